"""Step 6: launch through the same path as `ftwiz train CONFIG --headless` (commands.launch.start: distribution,
preflight, run folder, detached worker), then hand over to the monitor (`Launched`, handled by the App).

One way to launch: the step's Next button, labelled Launch (Enter on it, or Ctrl+N). On a machine without a GPU a
model other than the bundled demo first asks whether to train on the CPU."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ftwiz.bundled import is_bundled
from ftwiz.config.schema import RunConfig
from ftwiz.errors import FtwizError
from ftwiz.hardware.probe import Hardware
from ftwiz.tui.help import no_gpu_notice
from ftwiz.tui.messages import Launched
from ftwiz.tui.screens.base import StepScreen


class CpuConfirm(ModalScreen[bool]):
    """No GPU here: train this model on the CPU anyway? True to go on; Cancel or Esc launches nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, model: str, reason: str | None) -> None:
        super().__init__()
        self._model = model
        self._reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="cpu-confirm"):
            yield Static(
                Text.assemble(
                    ("Train on the CPU?\n", "bold"),
                    f"This machine has no GPU ({self._reason or 'no NVIDIA GPU'}). {self._model} would train on "
                    "the CPU: hours for what a GPU does in minutes, for all but the smallest models. The plan and "
                    "the saved config are for the card chosen on step 1: `ftwiz train` it on that box.",
                )
            )
            with Horizontal():
                yield Button("Cancel", id="cpu-cancel", variant="primary", compact=True)
                yield Button("Train on the CPU", id="cpu-train", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cpu-cancel", Button).focus()  # the safe answer is the one Enter gives

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "cpu-train")

    def action_cancel(self) -> None:
        self.dismiss(False)


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
        yield Static("", id="launch-gpu")
        yield Static("", id="launch-status")

    def next_label(self) -> str:
        return "Launch"

    def on_mount(self) -> None:
        self.draft_updated()
        self.query_one("#next", Button).focus()

    def draft_updated(self) -> None:
        """The card to plan for may land after this step is drawn (the app's prefetch): the notice follows it."""
        notice = no_gpu_notice(self.state.hardware, self.draft)
        self.query_one("#launch-gpu", Static).update(Text(notice, style="yellow") if notice else "")

    def action_next(self) -> None:
        try:
            config = self.draft.config()
        except FtwizError as exc:
            self._failed(str(exc))
            return
        hardware = self.state.hardware
        if hardware is not None and not hardware.has_gpu and not is_bundled(config.model.id):
            # The bundled demo is made to train on a CPU in a minute; any other model asks first.
            def answered(train: bool | None) -> None:
                if train:
                    self._start(config)
                else:
                    self.query_one("#launch-status", Static).update(
                        Text("Not launched: no GPU here. The saved config runs on a GPU box as it is.", style="dim")
                    )

            self.app.push_screen(CpuConfirm(config.model.id, hardware.no_gpu_reason), answered)
            return
        self._start(config)

    def _start(self, config: RunConfig) -> None:
        self.query_one("#next", Button).disabled = True
        self.query_one("#launch-status", Static).update(Text("Checking the model and data…", style="cyan"))
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
        self.query_one("#next", Button).disabled = False
