"""The run monitor, driven through Textual's pilot on synthetic run folders (no worker, no model)."""

from __future__ import annotations

import json
import time

import pytest
from runfolders import (
    FIXED_NOW,
    RUN_ID,
    append_metrics,
    build_run,
    live_status,
    metrics_lines,
    screen_text,
    train_record,
)
from textual.app import App
from textual.widgets import Log

from ftwiz.errors import BadInput
from ftwiz.files import read_json
from ftwiz.runs.store import RunDir
from ftwiz.tui.monitor import (
    ConfirmStop,
    MonitorApp,
    MonitorCommands,
    MonitorScreen,
    fmt_duration,
    leave_message,
    run_monitor,
)

pytestmark = pytest.mark.anyio
FAST = 0.05  # poll interval for the live tests: a tick in 50 ms
NO_TICKS = 3600.0  # for tests of keys and first reads: the mount's own read is enough


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def monitor(run: RunDir, poll_seconds: float = FAST, **kwargs) -> MonitorApp:
    return MonitorApp(run, poll_seconds=poll_seconds, **kwargs)


def record_notifications(app: App, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The message of every toast the app shows: toasts do not come out in `screen_text`."""
    messages: list[str] = []
    original = app.notify

    def notify(message: str, *args, **kwargs) -> None:
        messages.append(str(message))
        original(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return messages


async def test_a_finished_run_shows_its_whole_history(tmp_path):
    run = build_run(tmp_path)
    app = monitor(run, clock=lambda: FIXED_NOW, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert len(screen.progress.train_steps) == 200
        assert screen.progress.eval_steps == [50, 100, 150, 200]
        text = screen_text(app)
        assert RUN_ID in text
        assert "completed" in text
        assert "step 200/200" in text
        assert f"{train_record(200)['loss']:.4f}" in text  # the last loss
        assert "eval loss 2.5000 → 0.9500 (-62.0%)" in text
        assert "[worker] line 40: step 200" in text  # the log tail, newest line visible
        assert "Stop run" not in text  # nothing to stop
        assert "q Leave" in text


async def test_new_metrics_and_log_lines_appear_after_a_tick(tmp_path):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert "step 80/200" in screen_text(app)
        draws = 0
        draw = screen._draw_chart

        def counting_draw() -> None:
            nonlocal draws
            draws += 1
            draw()

        screen._draw_chart = counting_draw
        append_metrics(run, metrics_lines(range(81, 181)))
        run.status.write_text(json.dumps({**read_json(run.status), "step": 180, "heartbeat": time.time()}))
        with run.log.open("a") as fh:
            fh.write("[worker] reached step 180\n")
        await pilot.pause(FAST * 4)
        text = screen_text(app)
        assert "step 180/200" in text
        assert f"{train_record(180)['loss']:.4f}" in text
        assert "[worker] reached step 180" in text
        assert len(screen.progress.train_steps) == 180
        assert draws == 1  # 100 new train lines, one redraw
        await pilot.pause(FAST * 3)
        assert draws == 1  # nothing new, no redraw


async def test_a_run_that_ends_while_watched_says_so(tmp_path, monkeypatch):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Stop run" in screen_text(app)
        run.status.write_text(json.dumps({**read_json(run.status), "state": "completed", "pid": None}))
        await pilot.pause(FAST * 4)
        text = screen_text(app)
        assert "● completed" in text
        assert "Stop run" not in text
        assert notes == ["Run completed."]


async def test_stop_then_yes_writes_the_stop_request(tmp_path, monkeypatch):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run, poll_seconds=NO_TICKS)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmStop)
        assert "Stop run 20250101-100000-demo?" in screen_text(app)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert read_json(run.stop_request)["reason"] == "monitor"
        assert notes and notes[-1].startswith("Stop requested")
        assert "stop requested" in screen_text(app)


async def test_stop_with_the_buttons_by_keyboard(tmp_path):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        assert app.focused is not None and app.focused.id == "no"  # the safe answer is the default
        await pilot.press("shift+tab", "enter")  # to "Stop the run"
        await pilot.pause()
        assert run.stop_request.exists()


@pytest.mark.parametrize("keys", [("n",), ("escape",), ("enter",)])
async def test_stop_then_no_leaves_the_run_alone(tmp_path, keys):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s", *keys)  # enter presses the focused button: "Keep training"
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert not run.stop_request.exists()


async def test_stop_is_not_offered_for_a_finished_run(tmp_path):
    run = build_run(tmp_path)
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert not run.stop_request.exists()


async def test_q_leaves_and_the_run_goes_on(tmp_path):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Leave (run goes on)" in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == "running"
    assert not run.stop_request.exists()
    message = leave_message(run)
    assert message is not None and f"ftwiz attach {RUN_ID}" in message
    assert leave_message(build_run(tmp_path / "other")) is None  # a finished run: nothing to say


async def test_the_screen_works_inside_another_app(tmp_path):
    """The wizard will push the monitor as its last screen: leaving hands the state back to it."""
    run = build_run(tmp_path)
    results: list[str | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(MonitorScreen(run, poll_seconds=FAST), results.append)

    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "step 200/200" in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, MonitorScreen)
    assert results == ["completed"]


async def test_a_failed_run_shows_the_error_and_where_the_log_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = build_run(
        tmp_path,
        steps=range(1, 121),
        state="failed",
        step=120,
        final=None,
        error={"summary": "CUDA out of memory: tried to allocate 2.00 GiB", "log": "runs/x/train.log"},
    )
    app = monitor(run, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "● failed" in text
    assert "CUDA out of memory: tried to allocate 2.00 GiB" in text
    assert "log: runs/x/train.log" in text
    assert "ended (failed)" in text


async def test_a_dead_worker_is_called_died(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = build_run(tmp_path, steps=range(1, 41), state="running", pid=None, ended_at=None, final=None)
    app = monitor(run, clock=lambda: FIXED_NOW)  # heartbeat 5 minutes before the clock, no process
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "● died" in text
    assert "the worker ended without a final state (last heartbeat 5m00s ago)" in text
    assert "log: runs/20250101-100000-demo/train.log" in text


async def test_an_empty_run_folder_waits_without_errors(tmp_path):
    run = RunDir(tmp_path / "runs" / RUN_ID)
    run.path.mkdir(parents=True)
    app = monitor(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(FAST * 3)
        text = screen_text(app)
    assert "queued" in text


async def test_ten_thousand_metrics_lines_load_at_once_and_draw_once(tmp_path):
    run = build_run(tmp_path, steps=range(1, 10_001), max_steps=10_000, step=10_000)
    app = monitor(run, poll_seconds=60)
    draws = 0
    original = MonitorScreen._draw_chart

    def counting_draw(self: MonitorScreen) -> None:
        nonlocal draws
        draws += 1
        original(self)

    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MonitorScreen, "_draw_chart", counting_draw)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, MonitorScreen)
            assert len(screen.progress.train_steps) == 10_000
            assert "step 10000/10000" in screen_text(app)
    assert draws == 1
    assert time.perf_counter() - started < 10  # generous: a loaded 2-core machine; typically well under 2 s


async def test_the_command_palette_lists_the_monitor_commands(tmp_path):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        provider = MonitorCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert names == ["Stop the run", "Leave the monitor"]
        hits = [hit async for hit in provider.search("stop")]
        assert [hit.text for hit in hits] == ["Stop the run"]
        hits[0].command()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmStop)


async def test_a_malformed_metrics_line_is_reported_once_and_the_monitor_goes_on(tmp_path, monkeypatch):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        with run.metrics.open("a") as fh:
            fh.write("{not json\n")
        await pilot.pause(FAST * 3)
        append_metrics(run, [train_record(81)])
        await pilot.pause(FAST * 3)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert screen.progress.train_steps[-1] == 81
        assert notes == ["metrics.jsonl has a malformed line: some points are missing."]


def test_run_monitor_returns_0_and_says_how_to_come_back(tmp_path, monkeypatch, capsys):
    run = build_run(tmp_path, steps=range(1, 11), **live_status(step=10))
    monkeypatch.setattr(MonitorApp, "run", lambda self: None)  # no terminal here: the app itself is tested above
    assert run_monitor(run) == 0
    assert f"come back with: ftwiz attach {RUN_ID}" in capsys.readouterr().out
    with pytest.raises(BadInput):
        run_monitor(RunDir(tmp_path / "runs" / "nope"))


def test_durations_read_like_the_headless_follower():
    assert fmt_duration(None) == "–"
    assert fmt_duration(7) == "7s"
    assert fmt_duration(190) == "3m10s"
    assert fmt_duration(4800) == "1h20m"
    assert fmt_duration(2 * 86400 + 3 * 3600) == "2d03h"


async def test_p_shows_the_held_out_prompts_before_and_after_side_by_side(tmp_path):
    run = build_run(tmp_path)
    records = [{"prompt": "user: Where does Ana live?", "expected": "Quito", "before": "Riga", "after": "Quito"}]
    run.samples_json.write_text(json.dumps(records))
    app = monitor(run, clock=lambda: FIXED_NOW, poll_seconds=NO_TICKS)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        text = screen_text(app)
        assert "Held-out prompts" in text and "Where does Ana live?" in text and "Riga" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


async def test_the_first_frame_of_a_run_just_launched_says_queued_not_died(tmp_path, monkeypatch):
    """The Launch step hands over to the monitor the moment the worker is spawned: status.json is the launcher's
    `queued` (created seconds ago, no pid, no heartbeat). Its first frame must not call the run dead."""
    from ftwiz.commands.launch import prepare_run
    from ftwiz.config.presets import load_config

    monkeypatch.chdir(tmp_path)
    run = prepare_run(load_config("tiny-demo").config, argv=["ftwiz", "--preset", "tiny-demo"], preset="tiny-demo")
    app = monitor(run, poll_seconds=NO_TICKS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "queued" in text
    assert "died" not in text


def append_log(run: RunDir, *lines: str) -> None:
    with run.log.open("a") as fh:
        fh.writelines(line + "\n" for line in lines)


async def test_the_log_tail_keeps_following_after_a_resize_and_back(tmp_path):
    """A smaller pane moves the log's end without the user scrolling: the tail must still follow afterwards."""
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(FAST * 2)
        log = app.screen.query_one("#log", Log)
        await pilot.resize_terminal(60, 20)
        await pilot.pause(FAST * 2)
        append_log(run, "[worker] written while the pane was small")
        await pilot.pause(FAST * 4)
        assert "written while the pane was small" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(FAST * 2)
        append_log(run, "[worker] reached step 180")
        await pilot.pause(FAST * 4)
        assert log.is_vertical_scroll_end
        assert "[worker] reached step 180" in screen_text(app)


async def test_the_log_tail_stays_where_the_user_scrolled_up_to_and_follows_again_from_the_end(tmp_path):
    run = build_run(tmp_path, steps=range(1, 81), **live_status(step=80))
    app = monitor(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(FAST * 2)
        log = app.screen.query_one("#log", Log)
        assert app.focused is log
        await pilot.press("pageup")
        await pilot.pause(FAST * 2)
        reading = log.scroll_y
        append_log(run, "[worker] new while reading")
        await pilot.pause(FAST * 4)
        assert log.scroll_y == reading
        assert "new while reading" not in screen_text(app)
        await pilot.press("end")
        append_log(run, "[worker] after coming back")
        await pilot.pause(FAST * 4)
        assert "[worker] after coming back" in screen_text(app)
