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
from ftwiz.hardware.probe import Hardware, Probe
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
    launched_run: RunDir | None = None
