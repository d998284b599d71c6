"""The monitor screen: polls one run folder on a timer and hands what it read to the panels; its keys."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from ftwiz.files import read_json
from ftwiz.runs.progress import RunProgress
from ftwiz.runs.store import (
    ACTIVE_STATES,
    FINAL_STATES,
    MetricsReader,
    RunDir,
    effective_state,
    read_status,
    request_stop,
)
from ftwiz.tui.monitor.commands import MonitorCommands
from ftwiz.tui.monitor.dialogs import ConfirmStop, SamplesScreen
from ftwiz.tui.monitor.formatting import display_path
from ftwiz.tui.monitor.panels import CHART_TITLE, LOG_LINES, LogTail, LossChart, ProgressRow, RunHeader, RunView
from ftwiz.tui.monitor.stats import StatsPanel
from ftwiz.tui.tail import TextTail

RESUMABLE_STATES = ("stopped", "failed", "died")
"""States `r` (ftwiz resume) continues from the last checkpoint."""

POLL_SECONDS = 0.5


class MonitorScreen(Screen[str]):
    """One run, live. Dismisses with the run's state when the user leaves (the run itself goes on).

    `clock` gives "now" in epoch seconds (elapsed time, deadline, cost, the died check): tests pin it.
    """

    DEFAULT_CSS = """
    MonitorScreen {
        layout: vertical;
    }
    MonitorScreen #header {
        height: auto;
        max-height: 5;
        padding: 0 1;
        background: $panel;
    }
    MonitorScreen #progress-row {
        height: 1;
        padding: 0 1;
    }
    MonitorScreen #progress { width: 1fr; }
    MonitorScreen #progress Bar { width: 1fr; }
    MonitorScreen #eta { width: auto; padding-left: 1; }
    MonitorScreen #main {
        height: 2fr;
        min-height: 8;
    }
    MonitorScreen #chart-box {
        width: 1fr;
        border: round $primary-muted;
        border-title-color: $text;
    }
    MonitorScreen #chart { height: 1fr; }
    MonitorScreen #stats-box {
        width: 38;
        border: round $primary-muted;
        padding: 0 0 0 1;
        scrollbar-size-vertical: 1;
    }
    MonitorScreen.-wide #stats-box { width: 46; }
    MonitorScreen #log {
        overflow: auto auto;
        height: 1fr;
        min-height: 4;
        border: round $primary-muted;
    }
    MonitorScreen #chart-box:focus-within, MonitorScreen #stats-box:focus, MonitorScreen #log:focus {
        border: round $accent;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "Stop run"),
        Binding("p", "samples", "Samples"),
        Binding("r", "resume", "Resume run"),
        Binding("q", "leave", "Leave (run goes on)"),
        Binding("q", "close", "Leave"),
    ]
    COMMANDS: ClassVar[set[Any]] = {MonitorCommands}
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#log"

    def __init__(
        self,
        run: RunDir,
        *,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.run = run
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.progress = RunProgress()
        self.run_state = "queued"
        self._polled = False
        self._metrics = MetricsReader(run.metrics)
        self._log_tail = TextTail(run.log, lines=LOG_LINES)
        self._metrics_error = False
        self._stop_sent = False
        self._stop_pending = False

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield ProgressRow(id="progress-row")
        with Horizontal(id="main"):
            with Vertical(id="chart-box"):
                yield LossChart(id="chart")
            with VerticalScroll(id="stats-box"):
                yield StatsPanel(id="stats")
        yield LogTail(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chart-box").border_title = CHART_TITLE
        self.query_one("#stats-box").border_title = "run"
        self.query_one("#log", LogTail).border_title = escape(display_path(self.run.log))
        self.call_after_refresh(self.poll)  # after the chart's own mount has cleared it
        self.set_interval(self.poll_seconds, self.poll)

    # --- polling ---

    def poll(self) -> None:
        """Read everything new in the run folder, then update each widget once."""
        status = self._read_status()
        if status is not None:
            self.progress.set_status(status)
        if self.progress.plan is None and self.run.plan.exists():
            with contextlib.suppress(ValueError, OSError):
                self.progress.plan = read_json(self.run.plan) or {}
        chart_changed = self._read_metrics()
        previous = self.run_state if self._polled else None
        # no status.json yet: the launcher has not written it, which is not a dead worker
        status_known = bool(self.progress.status)
        self.run_state = effective_state(self.progress.status, now=self.clock()) if status_known else "queued"
        self._polled = True
        pending = self._stop_sent or self.run.stop_request.exists()
        if pending != self._stop_pending:
            self._stop_pending = pending
            self.refresh_bindings()
        if chart_changed:
            self._draw_chart()
        self._update_text()
        lines = self._log_tail.read_new()
        if lines:
            self.query_one("#log", LogTail).add_lines(lines)
        if previous != self.run_state:
            self.refresh_bindings()
            self._announce_end(previous)

    def _read_status(self) -> dict[str, Any] | None:
        try:
            return read_status(self.run)
        except (ValueError, OSError):
            return None  # keep the last good status; the next tick will read the new one

    def _read_metrics(self) -> bool:
        """Add the new metrics lines to the progress; True when a chart series changed."""
        try:
            return self.progress.add(self._metrics.read_new())
        except ValueError:  # a malformed line loses that read; the monitor keeps going
            if not self._metrics_error:
                self._metrics_error = True
                self.notify(
                    f"{self.run.metrics.name} has a malformed line: some points are missing.", severity="warning"
                )
            return False

    def _announce_end(self, previous: str | None) -> None:
        """A toast when the run ends while watched (not when the monitor opens on a finished run)."""
        if previous in ACTIVE_STATES and (self.run_state in FINAL_STATES or self.run_state == "died"):
            severity = "information" if self.run_state == "completed" else "warning"
            if self.run_state in ("failed", "died"):
                severity = "error"
            self.notify(f"Run {self.run_state}.", severity=severity)

    def _draw_chart(self) -> None:
        self.query_one("#chart", LossChart).draw(self.progress)

    def _update_text(self) -> None:
        """Hand the text panels what was read; each repaints only what changed, so an idle tick costs little."""
        view = RunView(self.run, self.run_state, self.progress, now=self.clock(), stop_pending=self._stop_pending)
        self.query_one("#progress-row", ProgressRow).show(view)
        self.query_one("#header", RunHeader).show(view)
        self.query_one("#stats", StatsPanel).show(view)

    # --- actions ---

    @property
    def can_stop(self) -> bool:
        return self.run_state in ACTIVE_STATES

    @property
    def can_resume(self) -> bool:
        """A stopped, failed or dead run goes on from its last checkpoint (`ftwiz resume`)."""
        return self.run_state in RESUMABLE_STATES

    def action_resume(self) -> None:
        if not self.can_resume:
            self.notify(f"The run is {self.run_state}: nothing to resume.", severity="warning")
            return
        self._stop_sent = False
        self._resume()

    @work(thread=True, exclusive=True, group="resume")
    def _resume(self) -> None:
        """`ftwiz resume` for this run (spawning its worker); a refusal comes back through the app's error path."""
        from ftwiz.commands.runs import resume

        resumed = resume(self.run)
        where = f"from {resumed.checkpoint.name}" if resumed.checkpoint else "from the start (no checkpoint)"
        self.app.call_from_thread(self.notify, f"Resuming {where}; pid {resumed.proc.pid}.", title="Resumed")
        self.app.call_from_thread(self.poll)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show `stop` and the leave wording that fits: "the run goes on" only while it does."""
        if action == "stop":
            if not self.can_stop:
                return False
            return None if self._stop_pending else True  # None: shown dimmed, already asked
        if action == "resume":
            return self.can_resume
        if action == "leave":
            return self.can_stop
        if action == "close":
            return not self.can_stop
        return True

    def action_stop(self) -> None:
        if not self.can_stop:
            self.notify(f"The run is {self.run_state}: nothing to stop.", severity="warning")
            return
        self.app.push_screen(ConfirmStop(self.run.id), callback=self._stop_confirmed)

    def _stop_confirmed(self, yes: bool | None) -> None:
        if not yes:
            self.notify("The run goes on.", timeout=2)
            return
        request_stop(self.run, reason="monitor")
        self._stop_sent = self._stop_pending = True
        self.refresh_bindings()
        self._update_text()
        self.notify(
            "Stop requested: the worker finishes the step, saves a checkpoint and the adapter, then stops.",
            title="Stopping",
        )

    def action_samples(self) -> None:
        records = read_json(self.run.samples_json)
        if not records:
            self.notify("No samples yet: the worker writes them once the model is loaded.", severity="warning")
            return
        self.app.push_screen(SamplesScreen(records))

    def action_leave(self) -> None:
        """Leave while the run is active: it goes on in the background."""
        self.notify(f"Left the monitor; run {self.run.id} goes on in the background.")
        self.dismiss(self.run_state)

    def action_close(self) -> None:
        self.dismiss(self.run_state)
