"""The monitor's panels: the header, the progress row, the loss chart and the log tail.

They read nothing themselves: the screen polls the run folder and hands each panel what it last read, as a
`RunView` (or the new log lines); a panel repaints only when what it shows changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Log, ProgressBar, Static
from textual_plot import HiResMode, PlotWidget

from ftwiz.runs.progress import RunProgress
from ftwiz.runs.store import ACTIVE_STATES, FINAL_STATES, RunDir
from ftwiz.tui.monitor.formatting import display_path, fmt_duration
from ftwiz.views import STATE_STYLE

LOG_LINES = 200
CHART_POINTS = 400
"""Points per chart series: a few per braille dot column even on a wide terminal."""
TRAIN_STYLE = "dodger_blue1"
EVAL_STYLE = "orange1"
CHART_TITLE = f"loss  [{TRAIN_STYLE}]━ train[/]  [{EVAL_STYLE}]● eval[/]"
STATE_LABEL = {"running": "training"}


@dataclass(frozen=True)
class RunView:
    """What the panels draw, as the screen last read it: the run, its state, its progress, and "now"."""

    run: RunDir
    state: str
    progress: RunProgress
    now: float
    stop_pending: bool = False

    @property
    def can_stop(self) -> bool:
        return self.state in ACTIVE_STATES


class TextPanel(Static):
    """A Static that repaints only when its text changes: an idle tick on a finished run then costs nothing."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: Text | None = None

    def show_text(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text)


# --- the header ----------------------------------------------------------------------------------------------


def header_text(view: RunView) -> Text:
    """Run id and state; the eval loss change once it ended well, the error and the log once it did not."""
    state, status = view.state, view.progress.status
    text = Text.assemble(
        ("run ", "dim"),
        (view.run.id, "bold"),
        "  ",
        (f"● {STATE_LABEL.get(state, state)}", STATE_STYLE.get(state, "")),
    )
    if view.can_stop and view.stop_pending:
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
            ago = f" (last heartbeat {fmt_duration(view.now - float(beat))} ago)" if beat else ""
            summary = f"the worker ended without a final state{ago}"
        else:
            summary = error.get("summary") or "the run failed without a summary"
        text.append("\n")
        text.append(str(summary), style="red")
        log = Path(error["log"]) if error.get("log") else view.run.log
        text.append("\nlog: ", style="dim")
        text.append(display_path(log))
    return text


class RunHeader(TextPanel):
    """The top lines: which run, in which state, and how it ended."""

    def show(self, view: RunView) -> None:
        self.show_text(header_text(view))


# --- the progress row ----------------------------------------------------------------------------------------


def eta_text(view: RunView) -> Text:
    """`step 80/200  3m10s elapsed  ETA 4m05s`, or how the run ended."""
    progress, state = view.progress, view.state
    step = f"step {progress.step}" + (f"/{progress.max_steps}" if progress.max_steps else "")
    if state == "completed":
        tail = "done"
    elif state in FINAL_STATES or state == "died":
        tail = f"ended ({state})"
    elif state != "running":
        tail = f"{STATE_LABEL.get(state, state)}…"
    else:
        tail = f"ETA {fmt_duration(progress.eta_seconds())}"
    elapsed = fmt_duration(progress.elapsed_seconds(view.now))
    return Text.assemble((step, "bold"), "  ", (f"{elapsed} elapsed", "dim"), "  ", tail)


class ProgressRow(Horizontal):
    """The progress bar, with the step, the elapsed time and the ETA beside it."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
        yield TextPanel(id="eta")

    def show(self, view: RunView) -> None:
        progress = view.progress
        if progress.max_steps:
            bar = self.query_one("#progress", ProgressBar)
            bar.update(total=progress.max_steps, progress=progress.max_steps * (progress.fraction or 0.0))
        self.query_one("#eta", TextPanel).show_text(eta_text(view))


# --- the loss chart ------------------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, most: int) -> list[float]:
    """At most `most` ticks at a "nice" step (1, 2, 5 x 10^k) inside [lo, hi]. Written here because the plot's
    formatter takes a tick cap but may exceed it by ~2x (its step choice only looks one size up)."""
    span = hi - lo
    if span <= 0 or most < 1:
        return [lo]
    power = 10 ** math.floor(math.log10(span / most))
    step = next(m * power for m in (1, 2, 5, 10, 20) if span / (m * power) < most)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def padded_range(values: list[float], share: float = 0.08) -> tuple[float, float]:
    """The y-range that shows every point inside the frame: the data's range widened by `share` on each side
    (the plot's own autoscale puts the extremes on the frame's edge, where braille rounding can drop them)."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * share or abs(hi) * share or 0.1
    return lo - pad, hi + pad


def tick_budget(cells: int, per_tick: int) -> int:
    """How many tick labels fit along an axis of `cells` without running into each other."""
    return max(2, cells // per_tick)


class LossChart(PlotWidget):
    """Train loss as a line, eval loss as dots (and a line once there are two). The y-range is padded so every
    point is inside the frame, and the number of ticks follows the widget's size (labels never collide)."""

    # no axis labels: the box title says what is drawn, rows are scarce at 80x24
    margin_top = reactive(0)
    margin_bottom = reactive(1)
    margin_left = reactive(7)
    X_TICK_CELLS = 10  # a label like "1,000" and room on both sides
    Y_TICK_ROWS = 3

    _limits: tuple[tuple[float, float], tuple[float, float]] | None = None

    def draw(self, progress: RunProgress) -> None:
        (train_x, train_y), (eval_x, eval_y) = progress.chart_series(CHART_POINTS)
        self.clear()
        if train_x:
            self.plot(train_x, train_y, line_style=TRAIN_STYLE, hires_mode=HiResMode.BRAILLE)
        if eval_x:
            if len(eval_x) > 1:
                self.plot(eval_x, eval_y, line_style=EVAL_STYLE, hires_mode=HiResMode.BRAILLE)
            self.scatter(eval_x, eval_y, marker="●", marker_style=EVAL_STYLE)
        xs, ys = [*train_x, *eval_x], [*train_y, *eval_y]
        if ys:
            self._limits = ((min(xs), max(xs)), padded_range(ys))
            self.set_xlimits(*self._limits[0])
            self.set_ylimits(*self._limits[1])
        self._fit_ticks()

    def on_resize(self) -> None:
        self._fit_ticks()

    def _fit_ticks(self) -> None:
        if self._limits is None:
            return
        (x0, x1), (y0, y1) = self._limits
        width, height = self.size.width - self.margin_left, self.size.height - self.margin_bottom
        self.set_xticks(nice_ticks(x0, x1, tick_budget(width, self.X_TICK_CELLS)))
        self.set_yticks(nice_ticks(y0, y1, tick_budget(height, self.Y_TICK_ROWS)))
        self.refresh()


# --- the log tail --------------------------------------------------------------------------------------------


class LogTail(Log):
    """The end of the run's log, following new lines unless the user scrolled up to read.

    Following is Textual's anchor, not a check of `is_vertical_scroll_end` at each write: a resize moves the
    end (a shorter pane, a horizontal scrollbar) without the user scrolling, and a check at write time then
    took the view for "scrolled up" and stopped following for good. The anchor keeps the view at the end
    through every layout, is released when the user scrolls up and comes back when they scroll to the end.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=LOG_LINES, id=id, classes=classes)

    def on_mount(self) -> None:
        self.anchor()

    def add_lines(self, lines: list[str]) -> None:
        """Append complete lines; the anchor decides whether the view follows them."""
        # joined rather than write_lines, which would leave an empty line under the newest one; scroll_end=False
        # because Log's own scroll_end would re-take an anchor the user released by scrolling up
        self.write(("\n" if self.line_count else "") + "\n".join(lines), scroll_end=False)
