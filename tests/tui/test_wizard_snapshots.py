"""Every wizard step at 80x24 and 120x40 (SVG snapshots), pre-filled from the tiny-demo preset on a fixed,
GPU-less machine. Regenerate after a deliberate change: `pytest tests/tui --snapshot-update`, then look."""

from __future__ import annotations

import pytest
from wizard_kit import demo_draft, wizard

from ftwiz.tui.screens.base import STEP_NAMES

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
STEPS = [pytest.param(i, id=name.lower()) for i, name in enumerate(STEP_NAMES)]


@pytest.fixture(autouse=True)
def _inspection_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FTWIZ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ftwiz-cache"))


async def _settle(pilot) -> None:
    """Wait until the step's workers are done and the picture stops changing (a busy CI machine can take a few
    refreshes to show what a worker filled in, e.g. the Model step's module table)."""
    from textual.widgets import Input

    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # a blinking cursor would make the picture depend on timing
    previous = None
    for _ in range(20):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        picture = pilot.app.export_screenshot()
        if picture == previous:
            return
        previous = picture


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("step", STEPS)
def test_step(snap_compare, step, size):
    assert snap_compare(wizard(demo_draft(), start=step), terminal_size=size, run_before=_settle)
