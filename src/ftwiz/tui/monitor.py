"""The live run monitor (`ftwiz attach RUN`): loss chart, stats, progress and the log tail of one run folder.

Like the headless follower it only reads the run folder, so it can attach to any run, from any terminal, any
number of times; leaving it never touches the run. Stopping goes through `stop.request`, which the worker
polls: it finishes the step, saves a checkpoint and the adapter, and ends as `stopped`.

Files are polled on a timer and everything new is read in one go, then the widgets are updated once per tick
(the chart only when a series changed), so a finished run with 10,000 metrics lines opens at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Log, ProgressBar, Static
from textual_plot import HiResMode, PlotWidget

from ftwiz.errors import BadInput, ExitCode
from ftwiz.runs.progress import RunProgress
from ftwiz.runs.store import (
    ACTIVE_STATES,
    FINAL_STATES,
    MetricsReader,
    RunDir,
    effective_state,
    read_json,
    read_status,
    request_stop,
)
from ftwiz.tui.tail import TextTail
from ftwiz.views import STATE_STYLE

POLL_SECONDS = 0.5
LOG_LINES = 200
CHART_POINTS = 400
"""Points per chart series: a few per braille dot column even on a wide terminal."""
TRAIN_STYLE = "dodger_blue1"
EVAL_STYLE = "orange1"
STATE_LABEL = {"running": "training"}


# --- formatting ----------------------------------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """41m10s, 1h20m, 2d03h: the two units that matter."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def fmt_gib(n: float | None) -> str:
    return "–" if n is None else f"{n / 1024**3:.1f} GiB"


def fmt_count(n: float) -> str:
    """1234567 -> 1.23M, matching `ftwiz inspect`."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it: shorter, and what the user typed."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


# --- the stop confirmation -----------------------------------------------------------------------------------


class ConfirmStop(ModalScreen[bool]):
    """Stopping ends the training early: ask once, default to no."""

    DEFAULT_CSS = """
    ConfirmStop {
        align: center middle;
        background: $background 60%;
    }
    ConfirmStop > #dialog {
        width: 60;
        max-width: 95%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    ConfirmStop #question { text-style: bold; }
    ConfirmStop #explain { margin: 1 0; color: $text-muted; }
    ConfirmStop #buttons { height: auto; align-horizontal: center; }
    ConfirmStop Button { margin: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, stop"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]
    AUTO_FOCUS = "#no"

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Stop run {escape(self.run_id)}?", id="question")
            yield Static(
                "The worker finishes the current step, saves a checkpoint and the adapter, then ends as "
                "stopped. You can resume it later.  [b]y[/] stop · [b]n[/] keep training",
                id="explain",
            )
            with Horizontal(id="buttons"):
                yield Button("Stop the run", variant="error", id="yes")
                yield Button("Keep training", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


# --- command palette -----------------------------------------------------------------------------------------


class MonitorCommands(Provider):
    """The monitor's keys as command palette entries (ctrl+p), for those who look there first."""

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        if not isinstance(screen, MonitorScreen):
            return
        if screen.can_stop:
            yield "Stop the run", "Ask the worker to stop after this step, keeping a checkpoint", screen.action_stop
        yield "Leave the monitor", "Close this view; the run goes on in the background", screen.action_leave

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


# --- the monitor ---------------------------------------------------------------------------------------------


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
        self._shown: dict[str, Any] = {}  # what each Static shows now, to skip repaints that change nothing

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
            yield Static(id="eta")
        with Horizontal(id="main"):
            with Vertical(id="chart-box"):
                yield PlotWidget(id="chart")
            with VerticalScroll(id="stats-box"):
                yield Static(id="stats")
        yield Log(id="log", max_lines=LOG_LINES)
        yield Footer()

    def on_mount(self) -> None:
        chart = self.query_one("#chart", PlotWidget)
        chart.margin_top = 0  # no axis labels: the box title says what is drawn, rows are scarce at 80x24
        chart.margin_bottom = 1
        chart.margin_left = 7
        self.query_one("#chart-box").border_title = self._chart_title()
        self.query_one("#stats-box").border_title = "run"
        self.query_one("#log", Log).border_title = escape(display_path(self.run.log))
        self.call_after_refresh(self.poll)  # after the chart's own mount has cleared it
        self.set_interval(self.poll_seconds, self.poll)

    def _chart_title(self) -> str:
        return f"loss  [{TRAIN_STYLE}]━ train[/]  [{EVAL_STYLE}]● eval[/]"

    # --- polling ---

    def poll(self) -> None:
        """Read everything new in the run folder, then update each widget once."""
        status = self._read_status()
        if status is not None:
            self.progress.set_status(status)
        if self.progress.plan is None and self.run.plan.exists():
            with contextlib.suppress(ValueError, OSError):
                self.progress.plan = read_json(self.run.plan) or {}
        try:
            chart_changed = self.progress.add(self._metrics.read_new())
        except ValueError:  # a malformed line loses that read; the monitor keeps going
            chart_changed = False
            if not self._metrics_error:
                self._metrics_error = True
                self.notify(
                    f"{self.run.metrics.name} has a malformed line: some points are missing.", severity="warning"
                )
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
            self._append_log(lines)
        if previous != self.run_state:
            self.refresh_bindings()
            if previous in ACTIVE_STATES and (self.run_state in FINAL_STATES or self.run_state == "died"):
                severity = "information" if self.run_state == "completed" else "warning"
                if self.run_state in ("failed", "died"):
                    severity = "error"
                self.notify(f"Run {self.run_state}.", severity=severity)

    def _append_log(self, lines: list[str]) -> None:
        """Follow the end of the log, unless the user scrolled up to read: then leave the view where it is."""
        log = self.query_one("#log", Log)
        following = log.is_vertical_scroll_end or not log.line_count
        # joined rather than write_lines, which would leave an empty line under the newest one
        log.write(("\n" if log.line_count else "") + "\n".join(lines), scroll_end=False)
        if following:
            self.call_after_refresh(log.scroll_end, animate=False, immediate=True)

    def _read_status(self) -> dict[str, Any] | None:
        try:
            return read_status(self.run)
        except (ValueError, OSError):
            return None  # keep the last good status; the next tick will read the new one

    def _draw_chart(self) -> None:
        chart = self.query_one("#chart", PlotWidget)
        (train_x, train_y), (eval_x, eval_y) = self.progress.chart_series(CHART_POINTS)
        chart.clear()
        if train_x:
            chart.plot(train_x, train_y, line_style=TRAIN_STYLE, hires_mode=HiResMode.BRAILLE)
        if eval_x:
            if len(eval_x) > 1:
                chart.plot(eval_x, eval_y, line_style=EVAL_STYLE, hires_mode=HiResMode.BRAILLE)
            chart.scatter(eval_x, eval_y, marker="●", marker_style=EVAL_STYLE)

    def _update_text(self) -> None:
        """Repaint only what changed: an idle tick on a finished run then costs a few file stats."""
        progress = self.progress
        if progress.max_steps:
            bar = self.query_one("#progress", ProgressBar)
            bar.update(total=progress.max_steps, progress=progress.max_steps * (progress.fraction or 0.0))
        self._set_static("#header", self._header())
        self._set_static("#eta", self._eta_text())
        rows = self._stats_rows()
        if rows != self._shown.get("#stats"):
            self._shown["#stats"] = rows
            grid = Table.grid(padding=(0, 1))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column()
            for label, value in rows:
                grid.add_row(label, value)
            self.query_one("#stats", Static).update(grid)

    def _set_static(self, selector: str, text: Text) -> None:
        if text != self._shown.get(selector):
            self._shown[selector] = text
            self.query_one(selector, Static).update(text)

    # --- content ---

    @property
    def can_stop(self) -> bool:
        return self.run_state in ACTIVE_STATES

    def _header(self) -> Text:
        state, status = self.run_state, self.progress.status
        text = Text.assemble(
            ("run ", "dim"),
            (self.run.id, "bold"),
            "  ",
            (f"● {STATE_LABEL.get(state, state)}", STATE_STYLE.get(state, "")),
        )
        if self.can_stop and self._stop_pending:
            text.append("  stop requested: finishing the step", style="yellow")
        final = status.get("final") or {}
        before, after = final.get("eval_loss_before"), final.get("eval_loss")
        if state in ("completed", "stopped") and before and after is not None:
            change = 100 * (after - before) / before
            text.append(f"  eval loss {before:.4f} → {after:.4f} ({change:+.1f}%)", style="bold")
        if state in ("failed", "died"):
            error = status.get("error") or {}
            if state == "died":
                beat = status.get("heartbeat")
                ago = f" (last heartbeat {fmt_duration(self.clock() - float(beat))} ago)" if beat else ""
                summary = f"the worker ended without a final state{ago}"
            else:
                summary = error.get("summary") or "the run failed without a summary"
            text.append("\n")
            text.append(str(summary), style="red")
            log = Path(error["log"]) if error.get("log") else self.run.log
            text.append("\nlog: ", style="dim")
            text.append(display_path(log))
        return text

    def _eta_text(self) -> Text:
        progress, state = self.progress, self.run_state
        step = f"step {progress.step}" + (f"/{progress.max_steps}" if progress.max_steps else "")
        if state == "completed":
            tail = "done"
        elif state in FINAL_STATES or state == "died":
            tail = f"ended ({state})"
        elif state != "running":
            tail = f"{STATE_LABEL.get(state, state)}…"
        else:
            tail = f"ETA {fmt_duration(progress.eta_seconds())}"
        elapsed = fmt_duration(progress.elapsed_seconds(self.clock()))
        return Text.assemble((step, "bold"), "  ", (f"{elapsed} elapsed", "dim"), "  ", tail)

    def _stats_rows(self) -> list[tuple[str, Text]]:
        """(label, value) rows of the stats panel; optional rows only when the run folder has the data."""
        progress, status, now = self.progress, self.progress.status, self.clock()
        rows: list[tuple[str, Text]] = []

        def add_row(label: str, value: str | Text) -> None:
            rows.append((label, value if isinstance(value, Text) else Text(value)))

        step = f"{progress.step}" + (f"/{progress.max_steps}" if progress.max_steps else "")
        if progress.epoch is not None:
            step += f"  epoch {progress.epoch:.2f}"
        add_row("step", step)
        loss = progress.last_loss
        add_row("loss", "–" if loss is None else f"{loss:.4f}")
        if progress.last_eval_loss is not None:
            ppl = f"  ppl {progress.perplexity:.2f}" if progress.perplexity else ""
            add_row("eval loss", f"{progress.last_eval_loss:.4f}{ppl}")
        add_row("lr", "–" if progress.learning_rate is None else f"{progress.learning_rate:.2e}")
        add_row("grad norm", "–" if progress.grad_norm is None else f"{progress.grad_norm:.3f}")
        tps = progress.tokens_per_second
        add_row("speed", "–" if not tps else f"{tps:,.0f} tok/s")
        for gpu in sorted(progress.gpus.values(), key=lambda g: g.index):
            mem = f"{fmt_gib(gpu.mem_used_bytes)}/{fmt_gib(gpu.mem_total_bytes)}"
            util = f"  {gpu.util:.0f}%" if gpu.util is not None else ""
            add_row(f"GPU {gpu.index}", mem.replace(" GiB/", "/") + util)
        peak = progress.peak_memory()
        if peak.measured_bytes or peak.planned_bytes:
            value = Text(fmt_gib(peak.measured_bytes) if peak.measured_bytes else "– (no GPU)")
            if peak.planned_bytes:
                plan = fmt_gib(peak.planned_bytes)
                value.append(f", plan {plan.removesuffix(' GiB') if peak.measured_bytes else plan}")
            if peak.ratio is not None:
                value.append(f" ({peak.ratio - 1:+.0%})", style="red" if peak.ratio > 1 else "green")
            add_row("peak mem", value)
        left = progress.deadline_left_seconds(now)
        if left is not None:
            if progress.finished:
                value = Text(f"ended {fmt_duration(abs(left))} {'before' if left >= 0 else 'after'} it")
            elif left >= 0:
                value = Text(f"{fmt_duration(left)} left")
                if progress.eta_past_deadline(now):
                    value.append("  (ETA past it)", style="yellow")
            else:
                value = Text(f"passed {fmt_duration(-left)} ago", style="yellow")
            add_row("deadline", value)
        cost = progress.cost_so_far(now)
        if cost is not None:
            value = Text(f"${cost:,.2f}")
            projected = progress.cost_projected(now)
            if not progress.finished and projected is not None:
                value.append(f" → ~${projected:,.2f}")
            value.append(f"\nat ${progress.price_per_hour:,.2f}/h", style="dim")
            add_row("cost", value)
        trainable, total = status.get("trainable_params"), status.get("total_params")
        if trainable and total:
            add_row("trainable", f"{fmt_count(trainable)} of {fmt_count(total)} ({trainable / total:.2%})")
        if status.get("world_size") and int(status["world_size"]) > 1:
            strategy = f" ({status['strategy']})" if status.get("strategy") else ""
            add_row("processes", f"{status['world_size']}{strategy}")
        for decision in status.get("decisions") or []:
            add_row("note", Text(str(decision), style="italic"))
        return rows

    # --- actions ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show `stop` and the leave wording that fits: "the run goes on" only while it does."""
        if action == "stop":
            if not self.can_stop:
                return False
            return None if self._stop_pending else True  # None: shown dimmed, already asked
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


class SamplesScreen(ModalScreen[None]):
    """The held-out prompts side by side: what the data expects, what the base said, what the run says now."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,p,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    SamplesScreen { align: center middle; }
    SamplesScreen > VerticalScroll { width: 95%; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self._records = records

    def compose(self) -> ComposeResult:
        table = Table("prompt", "expected", "before", "after", expand=True, show_lines=True, title="Held-out prompts")
        for rec in self._records:
            after = rec.get("after")
            table.add_row(
                escape(rec["prompt"]),
                escape(rec.get("expected") or ""),
                escape(rec.get("before") or ""),
                escape(after) if after is not None else Text("after training", style="dim"),
            )
        with VerticalScroll():
            yield Static(table)


class MonitorApp(App[str]):
    """`ftwiz attach`: the monitor screen on its own. Exits with the run's state when the user leaves."""

    TITLE = "ftwiz monitor"

    def __init__(
        self, run: RunDir, *, clock: Callable[[], float] = time.time, poll_seconds: float = POLL_SECONDS
    ) -> None:
        super().__init__()
        self.run_dir = run
        self.clock = clock
        self.poll_seconds = poll_seconds

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen(self.run_dir, clock=self.clock, poll_seconds=self.poll_seconds), self.exit)

    def action_help_quit(self) -> None:
        """Ctrl-C stops a headless run; here it does nothing, so say what does."""
        self.notify("[b]q[/] leaves the monitor (the run goes on); [b]s[/] stops the run.", title="Ctrl-C")


def leave_message(run: RunDir) -> str | None:
    """What to print after the monitor closes on a run that is still going: where it is, how to come back."""
    state = effective_state(read_status(run))
    if state not in ACTIVE_STATES:
        return None
    return f"Left the monitor. Run {run.id} goes on in the background; come back with: ftwiz attach {run.id}"


def run_monitor(run: RunDir) -> int:
    """Show the monitor until the user leaves. Leaving never stops the run, so this returns 0."""
    if not run.path.is_dir():
        raise BadInput(f"no run folder at {run.path}", hint="`ls runs/` lists the runs.")
    MonitorApp(run).run()
    message = leave_message(run)
    if message:
        Console(soft_wrap=True).print(message, highlight=False, markup=False)
    return int(ExitCode.OK)
