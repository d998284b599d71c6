"""The pure core and the CLI stay light: no torch, transformers or textual at import (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT_MODULES = [
    "ftwiz.cli",
    "ftwiz.config",
    "ftwiz.config.schema",
    "ftwiz.config.presets",
    "ftwiz.models.targets",
    "ftwiz.models.spec",
    "ftwiz.models.resolve",
    "ftwiz.models.cache",
    "ftwiz.models.inspect",
    "ftwiz.views",
    "ftwiz.hardware.probe",
    "ftwiz.hardware.gpus",
    "ftwiz.plan.memory",
    "ftwiz.plan.speed",
    "ftwiz.plan.recommend",
    "ftwiz.plan.cli",
    "ftwiz.data.check",
    "ftwiz.data.formats",
    "ftwiz.runs.store",
    "ftwiz.runs.registry",
    "ftwiz.runs.commands",
    "ftwiz.runs.progress",
    "ftwiz.train.recovery",
    "ftwiz.hardware.sampler",
    "ftwiz.data.source",
    "ftwiz.data.masking",
    "ftwiz.doctor",
    "ftwiz.config.draft",
    "ftwiz.tui.help",
    "ftwiz.train.launch",
    "ftwiz.headless",
]
HEAVY = ["torch", "transformers", "peft", "trl", "datasets", "textual"]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_without_heavy_dependencies(module):
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} pulled in {out}"


@pytest.mark.parametrize("module", ["ftwiz.tui.wizard", "ftwiz.tui.monitor"])
def test_the_tui_starts_without_torch_or_transformers(module):
    """The first screen draws at once: the ML stack is imported only in worker threads, when a step needs it."""
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY[:-1]!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} pulled in {out}"
