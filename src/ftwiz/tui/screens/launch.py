"""Step 6: launch through the same path as `ftwiz train CONFIG --headless` (commands.launch.start: distribution,
preflight, run folder, detached worker), then hand over to the monitor (`Launched`, handled by the App)."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Static

from ftwiz.config.schema import RunConfig
from ftwiz.errors import FtwizError
from ftwiz.hardware.probe import Hardware
from ftwiz.tui.messages import Launched
from ftwiz.tui.screens.base import StepScreen


class LaunchScreen(StepScreen):
    step = 5

    class Failed(Message, bubble=False):
        """The launch worker's refusal (the preflight, the config): why nothing started."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def body(self) -> ComposeResult:
        config = self.draft.config()
        yield Static(
            Text.assemble(
                ("Ready to train\n", "bold"),
                f"model {config.model.id}\ndata {config.data.path}\n{config.method}, {config.adapter.type}"
                f"{'' if config.adapter.type == 'full' else f' r={config.adapter.r}'}, micro-batch "
                f"{config.train.per_device_train_batch_size} x {config.train.gradient_accumulation_steps}\n",
                (f"config {self.state.config_path}; runs in {config.output.runs_dir}\n", "dim"),
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
        try:
            config = self.draft.config()
        except FtwizError as exc:
            self._failed(str(exc))
            return
        argv = ["ftwiz", "train", self.state.config_path, "--headless"]
        self._launch(config, argv, self.draft.preset, self.state.hardware)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, config: RunConfig, argv: list[str], preset: str | None, hardware: Hardware | None) -> None:
        from ftwiz.commands.launch import start

        try:
            started = start(config, argv=argv, preset=preset, hardware=hardware)
        except FtwizError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        self.post_message(Launched(started.run))  # bubbles up to the App, which hands over to the monitor

    def on_launch_screen_failed(self, message: Failed) -> None:
        self._failed(message.error)

    def _failed(self, error: str) -> None:
        self.query_one("#launch-status", Static).update(Text(error, style="red"))
        self.query_one("#launch", Button).disabled = False
        self.query_one("#next", Button).disabled = False
