"""How the monitor looks at 80x24 and 120x40, for a completed and a failed run (SVG snapshots).

Regenerate after a deliberate change with `pytest tests/tui --snapshot-update` and look at the SVGs. The clock
is pinned and the run folder sits at a fixed path relative to the working directory, so nothing in the
picture depends on when or where the test runs.
"""

from __future__ import annotations

import pytest
from runfolders import ENDED, FIXED_NOW, build_run

from ftwiz.tui.monitor import MonitorApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
NO_TICKS = 3600.0  # the first read happens on mount; no timer tick may change the picture


@pytest.mark.parametrize("size", SIZES)
def test_completed_run(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)
    run = build_run(tmp_path)
    assert snap_compare(MonitorApp(run, clock=lambda: FIXED_NOW, poll_seconds=NO_TICKS), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_failed_run(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)
    run = build_run(
        tmp_path,
        steps=range(1, 121),
        state="failed",
        step=120,
        ended_at=ENDED,
        final=None,
        error={
            "summary": "CUDA out of memory: tried to allocate 2.00 GiB (GPU 0; 23.6 GiB total, 21.9 GiB in use)",
            "log": "runs/20250101-100000-demo/train.log",
        },
    )
    assert snap_compare(MonitorApp(run, clock=lambda: FIXED_NOW, poll_seconds=NO_TICKS), terminal_size=size)
