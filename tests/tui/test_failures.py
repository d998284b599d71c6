"""The TUI's one error path (tui/failures.py): a failing worker or palette command is shown and logged and the app
goes on; an error that still escapes ends it with a non-zero code and says where the log is. And what is printed
after the monitor closes says what is true of the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from runfolders import build_run, live_status, screen_text
from textual.widgets import Static
from wizard_kit import demo_draft, wizard

from ftwiz.tui.failures import ErrorDialog, fatal_message
from ftwiz.tui.monitor import MonitorApp, outcome_message
from ftwiz.tui.screens.data import DataScreen
from ftwiz.tui.screens.hardware import HardwareScreen
from ftwiz.tui.screens.method import MethodScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """wizard.log in a cache folder of the test's own (inspections are not cached there: each test pays once)."""
    monkeypatch.setenv("FTWIZ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "wizard.log"


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def palette(pilot, title: str) -> None:
    """Ctrl+P, type the command's title, Enter: as a user runs it."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*title)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause(0.2)


async def test_an_unreachable_hub_dataset_is_a_red_message_and_the_wizard_goes_on(log: Path, monkeypatch):
    monkeypatch.setattr("ftwiz.data.source.hub_reachable", lambda: False)
    draft = demo_draft()
    draft.set("data.path", "trl-lib/Capybara")
    app = wizard(draft, start=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DataScreen)
        text = screen_text(app)
        assert "cannot reach the Hugging Face hub" in text
        assert app.is_running and app.return_code is None
        await pilot.press("ctrl+n")  # Next refuses: the data could not be read
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)


async def test_a_worker_that_raises_is_shown_logged_and_the_wizard_goes_on(log: Path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'trl-lib/Capybara' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr("ftwiz.data.source.rows_from", unreachable)
    app = wizard(demo_draft(), start=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog)  # a modal: this one is a bug, not the user's to fix
        assert "wizard.log" in screen_text(app)
        assert str(log) in str(app.screen.query_one("#error-text", Static).content)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)
        text = screen_text(app)
        assert "Checking the data failed: Couldn't reach" in text
        assert "Checking ftwiz" not in text  # the spinner's line is gone
        assert not app.screen.query_one("#data-spinner").display
        assert app.is_running and app.return_code is None
    assert "ConnectionError: Couldn't reach" in log.read_text()  # the traceback is in the log
    assert "Traceback" in log.read_text()


async def test_the_palette_cannot_jump_past_an_unfinished_step(log: Path):
    app = wizard()  # a fresh wizard: no model, no data
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await palette(pilot, "Go to step 6: Launch")
        assert isinstance(app.screen, HardwareScreen)
        assert app.is_running and app.return_code is None
        assert not app.failed  # a refusal, not an error
        await palette(pilot, "Go to step 4: Method")
        assert isinstance(app.screen, HardwareScreen)


async def test_the_palette_opens_a_step_whose_earlier_steps_are_done(log: Path):
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await palette(pilot, "Go to step 6: Launch")
        assert isinstance(app.screen, MethodScreen)  # the config is not saved yet: Review first
        await palette(pilot, "Go to step 3: Data")  # back is always allowed
        assert isinstance(app.screen, DataScreen)


async def test_a_palette_command_that_raises_is_reported_and_the_wizard_goes_on(log: Path, monkeypatch):
    def broken(self) -> None:
        raise RuntimeError("recommender exploded")

    monkeypatch.setattr(MethodScreen, "action_recommend", broken)
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await palette(pilot, "Recommend")
        assert isinstance(app.screen, ErrorDialog)
        assert "recommender exploded" in screen_text(app)
        assert app.is_running and app.return_code is None
    assert "RuntimeError: recommender exploded" in log.read_text()


async def test_an_error_that_escapes_exits_non_zero_and_names_the_log(log: Path):
    app = wizard(demo_draft(), start=3)
    with pytest.raises(ZeroDivisionError):  # Pilot re-raises what ended the app
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.call_later(lambda: 1 / 0)
            await pilot.pause(0.2)
    assert app.return_code == 1
    assert fatal_message(app) == f"ftwiz: the wizard stopped on an internal error; the traceback is in {log}"
    assert "ZeroDivisionError" in log.read_text()


async def test_a_monitor_palette_command_that_raises_is_reported(tmp_path: Path, log: Path, monkeypatch):
    from ftwiz.tui.monitor import MonitorScreen

    def broken(self) -> None:
        raise OSError("stop.request: read-only file system")

    monkeypatch.setattr(MonitorScreen, "action_stop", broken)
    run = build_run(tmp_path, **live_status())
    app = MonitorApp(run, poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await palette(pilot, "Stop the run")
        assert isinstance(app.screen, ErrorDialog)
        assert app.is_running
    assert "read-only file system" in log.read_text()


def test_leaving_says_what_is_true_of_the_run(tmp_path: Path):
    going = build_run(tmp_path / "going", **live_status())
    assert "goes on in the background" in outcome_message(going)
    assert f"ftwiz attach {going.id}" in outcome_message(going)

    done = build_run(tmp_path / "done")
    done.adapter.mkdir()
    message = outcome_message(done)
    assert "completed" in message and str(done.adapter) in message and "goes on" not in message

    stopped = build_run(tmp_path / "stopped", state="stopped", step=120)
    resume = f"ftwiz resume {stopped.id}"
    assert outcome_message(stopped) == f"Run {stopped.id} stopped at step 120; continue it with: {resume}"

    failed = build_run(
        tmp_path / "failed", state="failed", error={"summary": "CUDA out of memory.\nTried to allocate 2 GiB"}
    )
    message = outcome_message(failed)
    assert message.startswith(f"Run {failed.id} failed: CUDA out of memory. / Tried to allocate 2 GiB.")
    assert "goes on" not in message and f"ftwiz resume {failed.id}" in message
