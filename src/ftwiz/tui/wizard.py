"""The wizard (`ftwiz`): one screen per step over one Draft, ending on the run monitor.

Thin over the core (DESIGN.md): probing, inspection, data checks, planning and launching are the same functions
the headless commands use; screens only show them and edit the Draft. Slow work (inspection, data scans,
tokenizers) runs in Textual workers, so the first screen draws at once and input never blocks.

Textual's way round: a step screen gets the Draft and the WizardState (tui/state.py) in `__init__` and never
imports this module; it posts messages up (tui/messages.py: GoTo, Launched, DraftChanged) and the App handles
them. Workers change nothing themselves: they post their result, and its handler applies it on the main thread.
`make_wizard` builds the App for the CLI and the tests alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import events, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from ftwiz.hardware.probe import Hardware, Probe
from ftwiz.plan.draft import Draft
from ftwiz.tui.failures import ReportsFailures, quiet_libraries
from ftwiz.tui.messages import DraftChanged, GoTo, Launched
from ftwiz.tui.screens.base import STEP_NAMES, StepScreen
from ftwiz.tui.screens.data import DataScreen
from ftwiz.tui.screens.hardware import HardwareScreen
from ftwiz.tui.screens.launch import LaunchScreen
from ftwiz.tui.screens.method import MethodScreen
from ftwiz.tui.screens.model import ModelScreen
from ftwiz.tui.screens.review import ReviewScreen
from ftwiz.tui.state import DEFAULT_CONFIG_PATH, WizardState, missing_before, run_doctor
from ftwiz.tui.widgets import too_small

__all__ = ["DEFAULT_CONFIG_PATH", "REVIEW", "STEPS", "WizardApp", "make_wizard", "quiet_libraries", "run_doctor"]

STEPS: tuple[type[StepScreen], ...] = (
    HardwareScreen,
    ModelScreen,
    DataScreen,
    MethodScreen,
    ReviewScreen,
    LaunchScreen,
)
REVIEW = STEPS.index(ReviewScreen)


def make_wizard(
    draft: Draft | None = None,
    *,
    hardware: Hardware | None = None,
    probe: Probe | None = None,
    runs_dir: str = ".",
    start: int = 0,
    config_path: str = DEFAULT_CONFIG_PATH,
    monitor: bool = True,
    doctor: Callable[[], list[Any]] | None = None,
) -> WizardApp:
    """The wizard over `draft` (empty when None), opened at step `start`: what `ftwiz` runs and the tests drive.
    `hardware`: this machine when known (else probed); `doctor`: the environment checks (else `ftwiz doctor`'s);
    `monitor`: hand over to the run monitor after the launch (else the wizard ends there)."""
    state = WizardState(
        hardware=hardware, probe=probe, runs_dir=runs_dir, doctor=doctor or run_doctor, config_path=config_path
    )
    return WizardApp(draft or Draft(), state, start=start, monitor=monitor)


class WizardApp(ReportsFailures):
    """State: the Draft (what will run) and the WizardState (what the steps learned). Each visit builds the step's
    screen afresh over both; screens post messages up (GoTo, Launched, DraftChanged) and the App acts on them.
    Failures of workers and palette commands are reported and the wizard goes on (tui/failures.py)."""

    CSS_PATH = "wizard.tcss"
    CSS = "ToastRack { margin-bottom: 4; }"  # toasts sit above Back/Next and the footer, never over them
    TITLE = "ftwiz"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),  # Textual's own is hidden from the footer
        Binding("escape", "hide_help_panel", show=False),  # the palette's "Keys" panel closes as any popup does
    ]

    class Prefetched(Message):
        """The prefetch worker's result: this machine, and the model's inspection (None: not needed, or failed;
        the Model step shows the error when the user goes there)."""

        def __init__(self, hardware: Hardware, ref: str, inspection: dict[str, Any] | None) -> None:
            super().__init__()
            self.hardware = hardware
            self.ref = ref
            self.inspection = inspection

    def __init__(self, draft: Draft, state: WizardState, *, start: int = 0, monitor: bool = True) -> None:
        super().__init__()
        self.draft = draft
        self.state = state
        self._start = start
        self._monitor = monitor
        self._said_too_small = False

    def on_resize(self, event: events.Resize) -> None:
        """Say once, each time the terminal shrinks below 80x24, that panels are cramped (rather than cut)."""
        message = too_small(event.size.width, event.size.height)
        if message and not self._said_too_small:
            self.notify(message, title="Small terminal", severity="warning", timeout=8)
        self._said_too_small = message is not None

    def on_mount(self) -> None:
        if self._start > 0:
            # Opened at a later step (a preset or a config file): learn the hardware and model in the background.
            ref = self.draft.get("model.id") if self.draft.inspection is None else ""
            self.hardware_then_model(
                self.state.hardware, self.state.runs_dir, self.state.probe, ref, int(self.draft.get("adapter.r"))
            )
        self.state.reached = self._start
        self.goto(self._start)

    def goto(self, step: int) -> None:
        """Open `step` (Next, Back and the palette come here)."""
        self.state.reached = max(self.state.reached, step)
        screen = STEPS[step](self.draft, self.state)
        if isinstance(self.screen, StepScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_go_to(self, message: GoTo) -> None:
        self.goto(message.step)

    def jump(self, step: int) -> None:
        """The palette's "Go to step N": refused, as Next would, while an earlier step is not done."""
        missing = missing_before(step, self.draft, self.state)
        if missing is not None:
            earlier, problem = missing
            self.notify(
                f"Step {earlier + 1} ({STEP_NAMES[earlier]}) first: {problem}", title="Not yet", severity="warning"
            )
            return
        self.goto(step)

    @work(thread=True, group="prefetch")
    def hardware_then_model(
        self, hardware: Hardware | None, runs_dir: str, probe: Probe | None, ref: str, rank: int
    ) -> None:
        """Probe the machine (unless known) and inspect `ref` (unless empty); posts `Prefetched`."""
        from ftwiz.errors import FtwizError
        from ftwiz.hardware.probe import probe_hardware

        hardware = hardware or probe_hardware(runs_dir, probe)
        inspection = None
        if ref:
            from ftwiz.models.inspect import inspect_reference

            with contextlib.suppress(FtwizError):  # the model step shows the error when the user goes there
                inspection = inspect_reference(ref, rank=rank, isolate=True)
        self.post_message(self.Prefetched(hardware, ref, inspection))

    def on_wizard_app_prefetched(self, message: Prefetched) -> None:
        from ftwiz.hardware.gpus import CATALOG, GpuChoice

        if self.draft.gpu is None and not message.hardware.has_gpu:
            self.draft.gpu = GpuChoice(CATALOG["a100-80gb"])
        self.state.hardware = message.hardware
        still_wanted = self.draft.inspection is None and self.draft.get("model.id") == message.ref
        if message.inspection is not None and still_wanted:  # not when the user typed another model meanwhile
            self.draft.inspection = message.inspection
        self.post_message(DraftChanged())

    def on_draft_changed(self, message: DraftChanged) -> None:
        """Redraw the current step (under a help panel, if one is open) from the draft."""
        step = next((s for s in reversed(self.screen_stack) if isinstance(s, StepScreen)), None)
        if step is not None and step.is_mounted:  # not yet mounted: its on_mount shows it anyway
            step.call_after_refresh(step.draft_updated)

    def on_launched(self, message: Launched) -> None:
        """The worker started: hand over to the monitor; leaving it ends the wizard (the run goes on)."""
        self.state.launched_run = message.run
        if not self._monitor:
            self.exit(0)
            return
        from ftwiz.tui.monitor import MonitorScreen

        self.push_screen(MonitorScreen(message.run), callback=lambda _: self.exit(0))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, then the wizard's; every one runs through the app's error path (a failing command
        is reported, the wizard goes on)."""
        for command in super().get_system_commands(screen):
            yield command._replace(callback=self.guarded(command.callback, command.title))
        for i, name in enumerate(STEP_NAMES):
            title = f"Go to step {i + 1}: {name}"
            yield SystemCommand(title, f"Open the {name} step", self.guarded(lambda i=i: self.jump(i), title))
        if isinstance(screen, MethodScreen):
            recommend = self.guarded(screen.action_recommend, "Recommend")
            yield SystemCommand("Recommend", "Fill in the planner's choice, with reasons", recommend)
        if isinstance(screen, ReviewScreen):
            yield SystemCommand("Save config", "Write the YAML", self.guarded(screen.action_save, "Save config"))
