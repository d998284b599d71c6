"""What the wizard's steps learn and share besides the Draft: the machine, the environment checks, the data
report, where the config is saved, the launched run.

One `WizardState` is made by `make_wizard` and handed to every step screen in its `__init__`, next to the Draft.
Only the main thread changes it: workers post their results as messages, and the handlers (on the main thread)
write them here. Plain data, no textual import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ftwiz.commands.data import LengthAdvice
from ftwiz.data.check import Report
from ftwiz.errors import FtwizError
from ftwiz.hardware.probe import Hardware, Probe
from ftwiz.plan.draft import Draft
from ftwiz.runs.store import RunDir

DEFAULT_CONFIG_PATH = "ftwiz-run.yaml"

DataKey = tuple[str, str, str]
"""What a data report was made for: (data.path, data.format, model.id)."""
DataReport = tuple[DataKey, Report, list[dict[str, Any]]]
"""A data check: its key, the report, the first rows (for the preview)."""
DataLengths = tuple[DataKey, LengthAdvice]
"""The lengths measured for a data check, after its report (the model's tokenizer when at hand): key, advice."""


def run_doctor() -> list[Any]:
    """The environment doctor's checks (imports torch and bitsandbytes: a worker thread calls this)."""
    from ftwiz.commands.doctor import DoctorOptions, run

    return run(DoctorOptions()).checks


@dataclass
class WizardState:
    """Shared by the steps; written on the main thread only."""

    hardware: Hardware | None = None
    """This machine, once probed (or given: tests, a known box)."""
    probe: Probe | None = None
    """How to probe it (None: NVML)."""
    runs_dir: str = "."
    doctor: Callable[[], list[Any]] = field(default=run_doctor)
    """The environment checks to run (slow: in a worker)."""
    doctor_checks: list[Any] | None = None
    """Their result, once run: a second visit to the Hardware step shows it at once."""
    data_report: DataReport | None = None
    data_lengths: DataLengths | None = None
    """The recommended max length and the rows that would lose their answer (measured after the report)."""
    config_path: str = DEFAULT_CONFIG_PATH
    """Where the config is (to be) saved; the Launch step records `ftwiz train <it>`."""
    saved: bool = False
    reached: int = 0
    """The furthest step opened so far (the palette may jump back to any, and on to it without checks)."""
    launched_run: RunDir | None = None


def missing_before(step: int, draft: Draft, state: WizardState) -> tuple[int, str] | None:
    """The first earlier step that is not done before `step` can open, and what it lacks (None: `step` may
    open): the palette's "Go to step N" refuses what Next would, without building the steps in between.
    Steps before the furthest one opened (`state.reached`: a config file opens at Review) count as done, except
    that the config must validate and be saved before Launch."""
    always = {3, 4}
    checks: list[tuple[int, Callable[[], str | None]]] = [
        (0, lambda: "Still probing the hardware." if draft.gpu is None else None),
        (1, lambda: None if draft.get("model.id") else "Enter a model id or path."),
        (1, lambda: None if draft.inspection is not None else "Inspect the model first (Enter on its id)."),
        (2, lambda: None if draft.get("data.path") else "Enter the training data's path."),
        (2, lambda: None if _data_checked(draft, state) else "Check the data first (Enter on its path)."),
        (3, lambda: _config_problem(draft)),
        (4, lambda: None if state.saved else "Save the config on the Review step (Next there saves it)."),
    ]
    for earlier, check in checks:
        if earlier >= step:
            break
        if earlier < state.reached and earlier not in always:
            continue
        if problem := check():
            return earlier, problem
    return None


def _data_checked(draft: Draft, state: WizardState) -> bool:
    key = (draft.get("data.path"), draft.get("data.format"), draft.get("model.id"))
    return state.data_report is not None and state.data_report[0] == key


def _config_problem(draft: Draft) -> str | None:
    try:
        draft.config()
    except FtwizError as exc:
        return str(exc)
    return None
