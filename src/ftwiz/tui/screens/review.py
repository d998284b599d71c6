"""Step 5: the YAML that will run, the equivalent headless command, the time and cost; save it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static

from ftwiz.errors import FtwizError
from ftwiz.files import write_text_atomic
from ftwiz.plan.draft import about
from ftwiz.tui.screens.base import StepScreen


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
        self.query_one("#estimate", Static).update(Text("Estimate: " + ("; ".join(parts) or "unknown"), style="bold"))
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

    def action_save(self) -> bool:
        path = Path(self.query_one("#save_path", Input).value.strip() or self.state.config_path).expanduser()
        try:
            write_text_atomic(path, self.draft.yaml())
        except (FtwizError, OSError) as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return False
        self.state.config_path = str(path)
        self.state.saved = True
        self.notify(f"Saved {path}")
        return True

    @on(Button.Pressed, "#save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    def complete(self) -> str | None:
        try:
            self.draft.config()
        except FtwizError as exc:
            return str(exc)
        if not self.state.saved and not self.action_save():  # the launched run must be repeatable
            return "Could not save the config."
        return None
