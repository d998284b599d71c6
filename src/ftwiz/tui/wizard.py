"""The wizard (`ftwiz`): one screen per step over one Draft, ending on the run monitor.

Thin over the core (DESIGN.md): probing, inspection, data checks, planning and launching are the same functions
the headless commands use; screens only show them and edit the Draft. Slow work (inspection, data scans,
tokenizers) runs in Textual workers, so the first screen draws at once and input never blocks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from ftwiz.data.check import Report
from ftwiz.hardware.probe import Hardware, Probe
from ftwiz.plan.draft import Draft
from ftwiz.runs.store import RunDir
from ftwiz.tui.screens.base import STEP_NAMES, StepScreen
from ftwiz.tui.screens.data import DataScreen
from ftwiz.tui.screens.hardware import HardwareScreen
from ftwiz.tui.screens.launch import LaunchScreen
from ftwiz.tui.screens.method import MethodScreen
from ftwiz.tui.screens.model import ModelScreen
from ftwiz.tui.screens.review import ReviewScreen

STEPS: tuple[type[StepScreen], ...] = (
    HardwareScreen,
    ModelScreen,
    DataScreen,
    MethodScreen,
    ReviewScreen,
    LaunchScreen,
)
REVIEW = STEPS.index(ReviewScreen)
DEFAULT_CONFIG_PATH = "ftwiz-run.yaml"


class WizardApp(App[int]):
    """State: the Draft (what will run) and what the steps learned; screens are rebuilt from it on each visit."""

    CSS_PATH = "wizard.tcss"
    TITLE = "ftwiz"

    def __init__(
        self,
        draft: Draft | None = None,
        *,
        probe: Probe | None = None,
        runs_dir: str = ".",
        start: int = 0,
        config_path: str = DEFAULT_CONFIG_PATH,
        monitor: bool = True,
        hardware: Hardware | None = None,
        doctor: Callable[[], list[Any]] | None = None,
    ) -> None:
        super().__init__()
        self.draft = draft or Draft()
        self.probe = probe
        self.runs_dir = runs_dir
        self.hardware: Hardware | None = hardware
        self.doctor = doctor or run_doctor
        self.doctor_checks: list[Any] | None = None
        self.data_report: tuple[tuple[str, str, str], Report, list[dict[str, Any]]] | None = None
        self.config_path = config_path
        self.saved = False
        self.launched_run: RunDir | None = None
        self._start = start
        self._monitor = monitor

    def on_mount(self) -> None:
        if self._start > 0:
            # Opened at a later step (a preset or a config file): learn the hardware and model in the background.
            self.hardware_then_model()
        self.goto(self._start)

    def goto(self, step: int) -> None:
        screen = STEPS[step]()
        if isinstance(self.screen, StepScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def hardware_then_model(self) -> None:
        from ftwiz.hardware.gpus import CATALOG, GpuChoice
        from ftwiz.hardware.probe import probe_hardware

        def work() -> None:
            hardware = self.hardware or probe_hardware(self.runs_dir, self.probe)
            if self.draft.gpu is None and not hardware.has_gpu:
                self.draft.gpu = GpuChoice(CATALOG["a100-80gb"])
            self.hardware = hardware
            if self.draft.inspection is None and self.draft.get("model.id"):
                from ftwiz.errors import FtwizError
                from ftwiz.models.inspect import inspect_reference

                with contextlib.suppress(FtwizError):  # the model step shows the error when the user goes there
                    self.draft.inspection = inspect_reference(
                        self.draft.get("model.id"), rank=int(self.draft.get("adapter.r")), isolate=True
                    )
            self.call_from_thread(self._learned)

        self.run_worker(work, thread=True, group="prefetch")

    def _learned(self) -> None:
        screen = self.screen
        if isinstance(screen, StepScreen) and screen.is_mounted:  # not yet mounted: its on_mount shows it anyway
            screen.call_after_refresh(screen.draft_updated)

    def launched(self, run: RunDir) -> None:
        """The worker started: hand over to the monitor; leaving it ends the wizard (the run goes on)."""
        self.launched_run = run
        if not self._monitor:
            self.exit(0)
            return
        from ftwiz.tui.monitor import MonitorScreen

        self.push_screen(MonitorScreen(run), callback=lambda _: self.exit(0))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, name in enumerate(STEP_NAMES):
            yield SystemCommand(f"Go to step {i + 1}: {name}", f"Open the {name} step", lambda i=i: self.goto(i))
        if isinstance(screen, MethodScreen):
            yield SystemCommand("Recommend", "Fill in the planner's choice, with reasons", screen.action_recommend)
        if isinstance(screen, ReviewScreen):
            yield SystemCommand("Save config", "Write the YAML", screen.action_save)


def run_doctor() -> list[Any]:
    """The environment doctor's checks (imports torch and bitsandbytes: a worker thread calls this)."""
    from ftwiz.commands.doctor import DoctorOptions, run

    return run(DoctorOptions()).checks


def quiet_libraries(log_path: Path) -> None:
    """Library noise (warnings, transformers/bitsandbytes logging) goes to a log file, never onto the screen."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
