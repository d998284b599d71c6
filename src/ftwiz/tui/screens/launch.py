"""Step 6: launch through the same path as `ftwiz train CONFIG --headless` (commands.launch.start: distribution,
preflight, run folder, detached worker), then hand over to the monitor."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Button, Static

from ftwiz.errors import FtwizError
from ftwiz.tui.screens.base import StepScreen


class LaunchScreen(StepScreen):
    step = 5

    def body(self) -> ComposeResult:
        config = self.draft.config()
        yield Static(
            Text.assemble(
                ("Ready to train\n", "bold"),
                f"model {config.model.id}\ndata {config.data.path}\n{config.method}, {config.adapter.type}"
                f"{'' if config.adapter.type == 'full' else f' r={config.adapter.r}'}, micro-batch "
                f"{config.train.per_device_train_batch_size} x {config.train.gradient_accumulation_steps}\n",
                (f"config {self.wizard.config_path}; runs in {config.output.runs_dir}\n", "dim"),
                ("The run goes on if you close this terminal or lose SSH: come back with `ftwiz attach`.", "dim"),
            ),
            id="launch-summary",
        )
        yield Button("Launch", id="launch", variant="success", compact=True)
        yield Static("", id="launch-status")

    def next_label(self) -> str:
        return "Launch"

    def on_mount(self) -> None:
        self.query_one("#launch", Button).focus()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next()

    def action_next(self) -> None:
        self.query_one("#launch", Button).disabled = True
        self.query_one("#next", Button).disabled = True
        self.query_one("#launch-status", Static).update(Text("Checking the model and data…", style="cyan"))
        self._launch()

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self) -> None:
        from ftwiz.commands.launch import start

        try:
            argv = ["ftwiz", "train", self.wizard.config_path, "--headless"]
            started = start(self.draft.config(), argv=argv, preset=self.draft.preset, hardware=self.wizard.hardware)
        except FtwizError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self.wizard.launched, started.run)

    def _failed(self, message: str) -> None:
        self.query_one("#launch-status", Static).update(Text(message, style="red"))
        self.query_one("#launch", Button).disabled = False
        self.query_one("#next", Button).disabled = False
