"""The monitor's keys on a run that ended: a stopped run resumes with `r`, a completed one offers no resume."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from runfolders import build_run, screen_text

from ftwiz.runs.store import read_status
from ftwiz.tui.monitor import MonitorApp

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
