"""The monitor's modal screens: the stop confirmation and the held-out samples, before and after."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmStop(ModalScreen[bool]):
    """Stopping ends the training early: ask once, default to no."""

    DEFAULT_CSS = """
    ConfirmStop {
        align: center middle;
        background: $background 60%;
    }
    ConfirmStop > #dialog {
        width: 60;
        max-width: 95%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    ConfirmStop #question { text-style: bold; }
    ConfirmStop #explain { margin: 1 0; color: $text-muted; }
    ConfirmStop #buttons { height: auto; align-horizontal: center; }
    ConfirmStop Button { margin: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, stop"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]
    AUTO_FOCUS = "#no"

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Stop run {escape(self.run_id)}?", id="question")
            yield Static(
                "The worker finishes the current step, saves a checkpoint and the adapter, then ends as "
                "stopped. You can resume it later.  [b]y[/] stop · [b]n[/] keep training",
                id="explain",
            )
            with Horizontal(id="buttons"):
                yield Button("Stop the run", variant="error", id="yes")
                yield Button("Keep training", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class SamplesScreen(ModalScreen[None]):
    """The held-out prompts side by side: what the data expects, what the base said, what the run says now."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,p,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    SamplesScreen { align: center middle; }
    SamplesScreen > VerticalScroll { width: 95%; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self._records = records

    def compose(self) -> ComposeResult:
        table = Table("prompt", "expected", "before", "after", expand=True, show_lines=True, title="Held-out prompts")
        for rec in self._records:
            after = rec.get("after")
            table.add_row(
                escape(rec["prompt"]),
                escape(rec.get("expected") or ""),
                escape(rec.get("before") or ""),
                escape(after) if after is not None else Text("after training", style="dim"),
            )
        with VerticalScroll():
            yield Static(table)
