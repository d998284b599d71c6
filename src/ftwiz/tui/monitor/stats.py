"""The monitor's stats panel: step, loss, speed, memory, deadline, cost and the run's notes, label by value.

Optional rows appear only when the run folder has the data for them.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ftwiz.runs.progress import RunProgress
from ftwiz.tui.monitor.formatting import fmt_count, fmt_duration, fmt_gib
from ftwiz.tui.monitor.panels import RunView

Row = tuple[str, Text]


def _row(label: str, value: str | Text) -> Row:
    return label, value if isinstance(value, Text) else Text(value)


def stats_rows(view: RunView) -> list[Row]:
    """(label, value) rows of the stats panel, top to bottom."""
    progress, now = view.progress, view.now
    return [
        *_training_rows(progress),
        *_gpu_rows(progress),
        *_peak_memory_rows(progress),
        *_deadline_rows(progress, now),
        *_cost_rows(progress, now),
        *_run_rows(progress.status),
    ]


def _training_rows(progress: RunProgress) -> list[Row]:
    step = f"{progress.step}" + (f"/{progress.max_steps}" if progress.max_steps else "")
    if progress.epoch is not None:
        step += f"  epoch {progress.epoch:.2f}"
    loss = progress.last_loss
    rows = [_row("step", step), _row("loss", "–" if loss is None else f"{loss:.4f}")]
    if progress.last_eval_loss is not None:
        ppl = f"  ppl {progress.perplexity:.2f}" if progress.perplexity else ""
        rows.append(_row("eval loss", f"{progress.last_eval_loss:.4f}{ppl}"))
    tps = progress.tokens_per_second
    rows += [
        _row("lr", "–" if progress.learning_rate is None else f"{progress.learning_rate:.2e}"),
        _row("grad norm", "–" if progress.grad_norm is None else f"{progress.grad_norm:.3f}"),
        _row("speed", "–" if not tps else f"{tps:,.0f} tok/s"),
    ]
    return rows


def _gpu_rows(progress: RunProgress) -> list[Row]:
    rows = []
    for gpu in sorted(progress.gpus.values(), key=lambda g: g.index):
        mem = f"{fmt_gib(gpu.mem_used_bytes)}/{fmt_gib(gpu.mem_total_bytes)}"
        util = f"  {gpu.util:.0f}%" if gpu.util is not None else ""
        rows.append(_row(f"GPU {gpu.index}", mem.replace(" GiB/", "/") + util))
    return rows


def _peak_memory_rows(progress: RunProgress) -> list[Row]:
    """Measured peak against the planner's estimate, when there is either."""
    peak = progress.peak_memory()
    if not (peak.measured_bytes or peak.planned_bytes):
        return []
    value = Text(fmt_gib(peak.measured_bytes) if peak.measured_bytes else "– (no GPU)")
    if peak.planned_bytes:
        plan = fmt_gib(peak.planned_bytes)
        value.append(f", plan {plan.removesuffix(' GiB') if peak.measured_bytes else plan}")
    if peak.ratio is not None:
        value.append(f" ({peak.ratio - 1:+.0%})", style="red" if peak.ratio > 1 else "green")
    return [_row("peak mem", value)]


def _deadline_rows(progress: RunProgress, now: float) -> list[Row]:
    left = progress.deadline_left_seconds(now)
    if left is None:
        return []
    if progress.finished:
        value = Text(f"ended {fmt_duration(abs(left))} {'before' if left >= 0 else 'after'} it")
    elif left >= 0:
        value = Text(f"{fmt_duration(left)} left")
        if progress.eta_past_deadline(now):
            value.append("  (ETA past it)", style="yellow")
    else:
        value = Text(f"passed {fmt_duration(-left)} ago", style="yellow")
    return [_row("deadline", value)]


def _cost_rows(progress: RunProgress, now: float) -> list[Row]:
    cost = progress.cost_so_far(now)
    if cost is None:
        return []
    value = Text(f"${cost:,.2f}")
    projected = progress.cost_projected(now)
    if not progress.finished and projected is not None:
        value.append(f" → ~${projected:,.2f}")
    value.append(f"\nat ${progress.price_per_hour:,.2f}/h", style="dim")
    return [_row("cost", value)]


def _run_rows(status: dict[str, Any]) -> list[Row]:
    """What status.json says about the run itself: trainable share, processes, the launcher's decisions."""
    rows = []
    trainable, total = status.get("trainable_params"), status.get("total_params")
    if trainable and total:
        rows.append(_row("trainable", f"{fmt_count(trainable)} of {fmt_count(total)} ({trainable / total:.2%})"))
    if status.get("world_size") and int(status["world_size"]) > 1:
        strategy = f" ({status['strategy']})" if status.get("strategy") else ""
        rows.append(_row("processes", f"{status['world_size']}{strategy}"))
    rows += [_row("note", Text(str(decision), style="italic")) for decision in status.get("decisions") or []]
    return rows


class StatsPanel(Static):
    """The stats rows as a two-column grid, dim labels on the left; repainted only when a row changed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: list[Row] | None = None

    def show(self, view: RunView) -> None:
        rows = stats_rows(view)
        if rows == self._shown:
            return
        self._shown = rows
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        for label, value in rows:
            grid.add_row(label, value)
        self.update(grid)
