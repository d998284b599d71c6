"""Step 5: the YAML that will run, the equivalent headless command, the time and cost; save it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ftwiz.errors import FtwizError
from ftwiz.files import write_text_atomic
from ftwiz.plan.draft import about
from ftwiz.tui.help import no_gpu_notice
from ftwiz.tui.messages import GoTo
from ftwiz.tui.screens.base import StepScreen


def free_name(path: Path) -> Path:
    """The first of `name-2.yaml`, `name-3.yaml`, ... next to `path` that does not exist."""
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


class ConfirmOverwrite(ModalScreen[str]):
    """The config file exists and this wizard did not write it: overwrite it, save under a new name, or neither.
    Dismissed with "overwrite", "rename" or "cancel"."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss('cancel')", "Cancel")]
    DEFAULT_CSS = """
    ConfirmOverwrite { align: center middle; }
    ConfirmOverwrite > Vertical {
        width: 66; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmOverwrite Horizontal { height: auto; margin: 1 0 0 0; }
    ConfirmOverwrite Button { margin: 0 1 0 0; }
    """

    def __init__(self, path: Path, new: Path) -> None:
        super().__init__()
        self.path = path
        self.new = new

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.path} already exists (this wizard did not write it).", markup=False)
            with Horizontal():
                yield Button(f"Save as {self.new.name}", id="rename", variant="primary", compact=True)
                yield Button("Overwrite", id="overwrite", variant="warning", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#rename", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "cancel")


class ReviewScreen(StepScreen):
    step = 4
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "save", "Save")]

    def body(self) -> ComposeResult:
        yield Static("", id="estimate")
        yield Static("", id="command")
        yield Label("Save as")
        with Horizontal(classes="row"):
            yield Input(self.state.config_path, id="save_path", compact=True)
            yield Button("Save (ctrl+s)", id="save", compact=True)
        yield Static("", id="yaml")

    def on_mount(self) -> None:
        self.draft_updated()

    def draft_updated(self) -> None:
        try:
            text = self.draft.yaml()
        except FtwizError as exc:
            self.query_one("#yaml", Static).update(Text(str(exc), style="red"))
            return
        self.query_one("#yaml", Static).update(
            Syntax(text, "yaml", theme="ansi_dark", background_color="default", word_wrap=True)
        )
        seconds, cost = self.draft.estimate()
        memory, budget = self.draft.memory(), self.draft.budget_bytes
        parts = []
        if memory is not None and budget is not None:
            parts.append(f"peak ~{memory.total / 2**30:.1f} GiB of {budget / 2**30:.1f} GiB usable")
        if seconds is not None:
            parts.append(about(seconds))
        if cost is not None:
            parts.append(f"~${cost:,.2f} at {self.draft.gpu.gpu.name if self.draft.gpu else '?'} prices")
        estimate = Text("Estimate: " + ("; ".join(parts) or "unknown"), style="bold")
        if notice := no_gpu_notice(self.state.hardware, self.draft):
            estimate.append(f"\n{notice}", style="yellow")
        self.query_one("#estimate", Static).update(estimate)
        self._show_command()

    def _show_command(self) -> None:
        path = self.query_one("#save_path", Input).value.strip() or self.state.config_path
        text = Text.assemble(
            ("Run it again without the wizard:\n  ", "dim"), (self.draft.headless_command(path), "bold")
        )
        hardware = self.state.hardware
        processes = int(self.draft.get("distributed.num_processes"))
        if hardware is not None and not hardware.has_gpu and processes > 1:
            text.append(
                f"\nPlanned for {processes} GPUs: run it on that box. Launched here (no GPU) it would start "
                f"{processes} CPU processes.",
                style="yellow",
            )
        if int(self.draft.get("distributed.num_machines")) > 1:
            from ftwiz.commands.launch import node_commands

            text.append("\nOn each machine (the same config file on every one):", style="dim")
            for command in node_commands(path, self.draft.config().distributed):
                text.append(f"\n  {command}", style="bold")
        self.query_one("#command", Static).update(text)

    @on(Input.Changed, "#save_path")
    def _path_changed(self, event: Input.Changed) -> None:
        self._show_command()

    def _target(self) -> Path:
        return Path(self.query_one("#save_path", Input).value.strip() or self.state.config_path).expanduser()

    def _ours(self, path: Path) -> bool:
        """This wizard wrote `path` (so saving again over it needs no question)."""
        return self.state.saved and Path(self.state.config_path).expanduser().resolve() == path.resolve()

    def action_save(self, then: Callable[[], None] | None = None) -> None:
        """Save the YAML (asking first when the file exists and is not this wizard's), then call `then`."""
        path = self._target()
        if path.exists() and not self._ours(path):
            new = free_name(path)
            self.app.push_screen(ConfirmOverwrite(path, new), callback=lambda answer: self._answered(answer, new, then))
            return
        if self._write(path) and then is not None:
            then()

    def _answered(self, answer: str | None, new: Path, then: Callable[[], None] | None) -> None:
        if answer == "rename":
            self.query_one("#save_path", Input).value = str(new)
        elif answer != "overwrite":
            self.notify("Not saved.", timeout=3)
            return
        path = new if answer == "rename" else self._target()
        if self._write(path) and then is not None:
            then()

    def _write(self, path: Path) -> bool:
        try:
            write_text_atomic(path, self.draft.yaml())
        except (FtwizError, OSError) as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return False
        self.state.config_path = str(path)
        self.state.saved = True
        self.notify(f"Saved {path}")
        return True

    def action_next(self) -> None:
        """Next saves the config (the launched run must be repeatable), asking before it overwrites a file."""
        missing = self.complete()
        if missing:
            self.notify(missing, title="Not yet", severity="warning")
            return
        self.action_save(then=lambda: self.post_message(GoTo(self.step + 1)))

    @on(Button.Pressed, "#save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    def complete(self) -> str | None:
        try:
            self.draft.config()
        except FtwizError as exc:
            return str(exc)
        return None
