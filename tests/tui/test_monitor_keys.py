"""The monitor on a run that ended: a stopped run resumes with `r`, a completed one offers no resume; the chart
keeps every point inside its frame and its labels apart, down to 60x20."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from runfolders import FIXED_NOW, build_run, screen_text

from ftwiz.runs.store import read_status
from ftwiz.tui.monitor import MonitorApp
from ftwiz.tui.monitor.panels import nice_ticks, padded_range

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_stopped_run_resumes_from_its_monitor(tmp_path, monkeypatch):
    started: list = []

    def spawn(run):
        started.append(run)
        return SimpleNamespace(pid=4242)

    monkeypatch.setattr("ftwiz.commands.runs.spawn_worker", spawn)
    run = build_run(tmp_path, state="stopped", step=120)
    (run.path / "checkpoint-120").mkdir()
    app = MonitorApp(run, poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "r Resume run" in screen_text(app)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r.path for r in started] == [run.path]
        assert read_status(run)["state"] == "queued"  # the worker takes over from here
        assert "Resume run" not in screen_text(app)  # it is active again: stop, not resume


async def test_a_completed_run_offers_no_resume(tmp_path):
    app = MonitorApp(build_run(tmp_path), poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Resume" not in screen_text(app)
        await pilot.press("r")
        await pilot.pause()
        assert read_status(app.run_dir)["state"] == "completed"


def test_every_point_is_inside_the_chart_and_ticks_fit_their_axis():
    lo, hi = padded_range([0.72, 2.61, 1.4])
    assert lo < 0.72 and hi > 2.61  # no point on (or past) the frame
    assert nice_ticks(1, 200, 2) == [100, 200]
    assert nice_ticks(0.72, 2.6, 5) == [1.0, 1.5, 2.0, 2.5]
    for most in range(1, 12):
        assert 1 <= len(nice_ticks(3, 4817, most)) <= most


async def test_at_60x20_the_chart_labels_do_not_run_into_each_other(tmp_path):
    app = MonitorApp(build_run(tmp_path), poll_seconds=3600, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause(0.3)
        chart = app.screen.query_one("#chart")
        region = chart.region
        lines = screen_text(app).splitlines()
        axis = lines[region.y + region.height - 1][region.x : region.x + region.width]
        labels = axis.split()
        assert labels and all(label.isdigit() and int(label) <= 200 for label in labels), axis
