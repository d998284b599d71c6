"""What a monitor knows about a run, accumulated from its metrics lines and its status (no UI here).

The TUI monitor (and any other follower) feeds `RunProgress` everything new it reads from the run folder
and asks it for series, latest values, ETA, time to the deadline and cost. Every time-dependent answer takes
`now` (epoch seconds) as an argument, so the arithmetic is testable without a clock.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ftwiz.runs.store import FINAL_STATES

RATE_WINDOW = 32
"""Train records the step rate is measured over: recent enough to follow a change, long enough to be steady."""


@dataclass(frozen=True)
class GpuSample:
    """The latest `system` reading of one GPU."""

    index: int
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    util: float | None = None

    @property
    def mem_fraction(self) -> float | None:
        if not self.mem_used_bytes or not self.mem_total_bytes:
            return None
        return self.mem_used_bytes / self.mem_total_bytes


@dataclass(frozen=True)
class PeakMemory:
    """Peak memory the worker measured, next to what the plan predicted (either may be unknown)."""

    measured_bytes: int | None
    reserved_bytes: int | None
    planned_bytes: int | None

    @property
    def ratio(self) -> float | None:
        """Measured over planned: above 1 means the plan under-estimated."""
        if not self.measured_bytes or not self.planned_bytes:
            return None
        return self.measured_bytes / self.planned_bytes


def parse_time(value: Any) -> float | None:
    """An ISO timestamp (or epoch seconds) from status.json as epoch seconds; naive ISO strings are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _number(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN and infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most `max_points` points, each the mean of a run of neighbours: a chart a few dozen cells wide gains
    nothing from 10,000 points, and drawing them on every repaint would cost time."""
    n = len(xs)
    if n <= max_points or max_points <= 0:
        return list(xs), list(ys)
    out_x: list[float] = []
    out_y: list[float] = []
    for i in range(max_points):
        lo, hi = i * n // max_points, (i + 1) * n // max_points
        width = hi - lo
        out_x.append(sum(xs[lo:hi]) / width)
        out_y.append(sum(ys[lo:hi]) / width)
    return out_x, out_y


@dataclass
class RunProgress:
    """Everything read so far from one run folder. Feed it with `add(records)` and `set_status(status)`."""

    status: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    train_steps: list[int] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    epoch: float | None = None
    perplexity: float | None = None
    last_train_step: int | None = None
    last_elapsed: float | None = None
    gpus: dict[int, GpuSample] = field(default_factory=dict)
    system_peak_bytes: int | None = None
    records: int = 0
    _rate_window: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW), repr=False)

    # --- feeding -----------------------------------------------------------------------------------------

    def add(self, records: Iterable[dict[str, Any]]) -> bool:
        """Take new metrics records in file order. Returns whether a chart series changed (redraw needed)."""
        changed = False
        for rec in records:
            self.records += 1
            kind = rec.get("kind")
            if kind == "train":
                changed |= self._add_train(rec)
            elif kind == "eval":
                changed |= self._add_eval(rec)
            elif kind == "system":
                self._add_system(rec)
        return changed

    def _add_train(self, rec: dict[str, Any]) -> bool:
        step = int(rec.get("step") or 0)
        loss = _number(rec.get("loss"))
        for name in ("learning_rate", "grad_norm", "tokens_per_second", "epoch"):
            value = _number(rec.get(name))
            if value is not None:
                setattr(self, name, value)
        elapsed = _number(rec.get("elapsed"))
        if elapsed is not None:
            previous = self._rate_window[-1] if self._rate_window else None
            if previous is not None and (elapsed < previous[1] or step < previous[0]):
                self._rate_window.clear()  # a resumed run restarts its clock: measure the new segment only
            self._rate_window.append((step, elapsed))
            self.last_elapsed = elapsed
        self.last_train_step = step
        if loss is None:
            return False
        if self.train_steps and step <= self.train_steps[-1]:
            # A resumed run replays the steps after its last checkpoint: the new values replace the old ones.
            keep = bisect.bisect_left(self.train_steps, step)
            del self.train_steps[keep:], self.train_losses[keep:]
        self.train_steps.append(step)
        self.train_losses.append(loss)
        return True

    def _add_eval(self, rec: dict[str, Any]) -> bool:
        loss = _number(rec.get("eval_loss"))
        if loss is None:
            return False
        self.eval_steps.append(int(rec.get("step") or 0))
        self.eval_losses.append(loss)
        self.perplexity = _number(rec.get("perplexity"))
        return True

    def _add_system(self, rec: dict[str, Any]) -> None:
        for gpu in rec.get("gpu") or []:
            index = int(gpu.get("index", 0))
            used, total = _number(gpu.get("mem_used_bytes")), _number(gpu.get("mem_total_bytes"))
            self.gpus[index] = GpuSample(
                index=index,
                mem_used_bytes=None if used is None else int(used),
                mem_total_bytes=None if total is None else int(total),
                util=_number(gpu.get("util")),
            )
        peak = _number(rec.get("peak_allocated_bytes"))
        if peak is not None:
            self.system_peak_bytes = max(int(peak), self.system_peak_bytes or 0)

    def set_status(self, status: dict[str, Any]) -> None:
        self.status = status or {}

    # --- latest values -----------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The recorded state (see `store.effective_state` for `died`)."""
        return str(self.status.get("state") or "queued")

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def step(self) -> int:
        """The furthest step known, from status.json or the metrics, whichever is ahead."""
        return max(int(self.status.get("step") or 0), self.last_train_step or 0)

    @property
    def max_steps(self) -> int | None:
        value = self.status.get("max_steps")
        return int(value) if value else None

    @property
    def last_loss(self) -> float | None:
        return self.train_losses[-1] if self.train_losses else _number(self.status.get("loss"))

    @property
    def last_eval_loss(self) -> float | None:
        return self.eval_losses[-1] if self.eval_losses else None

    @property
    def fraction(self) -> float | None:
        """Share of the steps done, 0..1; None while the number of steps is unknown."""
        if not self.max_steps:
            return None
        if self.state == "completed":
            return 1.0
        return min(1.0, self.step / self.max_steps)

    @property
    def seconds_per_step(self) -> float | None:
        """Over the last few train records; the first record alone gives elapsed / step."""
        if not self._rate_window:
            return None
        (first_step, first_elapsed), (last_step, last_elapsed) = self._rate_window[0], self._rate_window[-1]
        if last_step > first_step and last_elapsed >= first_elapsed:
            return (last_elapsed - first_elapsed) / (last_step - first_step)
        if last_step > 0 and last_elapsed > 0:
            return last_elapsed / last_step
        return None

    def eta_seconds(self) -> float | None:
        """Seconds until max_steps at the recent step rate; 0 once the run has ended, None when unknown."""
        if self.finished:
            return 0.0
        rate, max_steps = self.seconds_per_step, self.max_steps
        if rate is None or not max_steps:
            return None
        return max(0, max_steps - self.step) * rate

    @property
    def started_at(self) -> float | None:
        return parse_time(self.status.get("started_at"))

    @property
    def ended_at(self) -> float | None:
        return parse_time(self.status.get("ended_at"))

    def elapsed_seconds(self, now: float) -> float | None:
        """Wall time from started_at to ended_at (or now); the train clock when started_at is missing."""
        start = self.started_at
        if start is None:
            return self.last_elapsed
        return max(0.0, (self.ended_at or now) - start)

    def deadline_left_seconds(self, now: float) -> float | None:
        """Seconds from now (or from the end of a finished run) to deadline_at; negative past it."""
        deadline = parse_time(self.status.get("deadline_at"))
        if deadline is None:
            return None
        return deadline - (self.ended_at or now)

    def eta_past_deadline(self, now: float) -> bool:
        """Whether the run, at its current pace, would still be training at the deadline (it gets stopped)."""
        left, eta = self.deadline_left_seconds(now), self.eta_seconds()
        return not self.finished and left is not None and eta is not None and eta > left

    @property
    def price_per_hour(self) -> float | None:
        return _number(self.status.get("price_per_hour"))

    def cost_so_far(self, now: float) -> float | None:
        """price_per_hour x hours since started_at (until ended_at for a finished run)."""
        price = self.price_per_hour
        if price is None or self.started_at is None:
            return None
        return price * (self.elapsed_seconds(now) or 0.0) / 3600

    def cost_projected(self, now: float) -> float | None:
        """The cost when the run reaches max_steps at its current pace (the final cost once it has ended)."""
        cost, eta, price = self.cost_so_far(now), self.eta_seconds(), self.price_per_hour
        if cost is None or eta is None or price is None:
            return None
        return cost + price * eta / 3600

    def peak_memory(self) -> PeakMemory:
        """status.peak_memory (the worker's own measure) first, else the largest `system` reading."""
        peak = self.status.get("peak_memory") or {}
        measured = _number(peak.get("allocated_bytes"))
        if measured is None:
            measured = self.system_peak_bytes
        reserved = _number(peak.get("reserved_bytes"))
        planned = _number((self.plan or {}).get("peak_bytes"))
        return PeakMemory(
            measured_bytes=None if measured is None else int(measured),
            reserved_bytes=None if reserved is None else int(reserved),
            planned_bytes=None if planned is None else int(planned),
        )

    def chart_series(self, max_points: int) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
        """(train x, y), (eval x, y), each cut down to `max_points` for drawing."""
        return (
            downsample(self.train_steps, self.train_losses, max_points),
            downsample(self.eval_steps, self.eval_losses, max_points),
        )
