"""RunProgress: what a monitor derives from metrics lines and status.json, at a given `now`."""

from __future__ import annotations

import math

import pytest

from ftwiz.runs.progress import GpuSample, RunProgress, downsample, parse_time

START = parse_time("2025-01-01T10:00:00+00:00")
assert START is not None


def train(step: int, loss: float = 1.0, elapsed: float | None = None, **extra) -> dict:
    return {
        "kind": "train",
        "step": step,
        "epoch": step / 100,
        "loss": loss,
        "learning_rate": 1e-4,
        "grad_norm": 0.5,
        "tokens_per_second": 1000.0,
        "elapsed": step * 2.0 if elapsed is None else elapsed,
        **extra,
    }


def running(**status) -> RunProgress:
    progress = RunProgress()
    progress.set_status({"state": "running", "max_steps": 100, "started_at": "2025-01-01T10:00:00+00:00", **status})
    return progress


def test_add_builds_series_and_latest_values():
    progress = RunProgress()
    changed = progress.add(
        [
            train(1, 2.0),
            train(2, 1.5, grad_norm=0.25, learning_rate=5e-5, tokens_per_second=1500.0),
            {"kind": "eval", "step": 2, "eval_loss": 1.7, "perplexity": 5.47},
        ]
    )
    assert changed
    assert progress.train_steps == [1, 2]
    assert progress.train_losses == [2.0, 1.5]
    assert (progress.eval_steps, progress.eval_losses) == ([2], [1.7])
    assert progress.grad_norm == 0.25
    assert progress.learning_rate == 5e-5
    assert progress.tokens_per_second == 1500.0
    assert progress.last_loss == 1.5
    assert progress.last_eval_loss == 1.7
    assert progress.perplexity == 5.47
    assert progress.records == 3


def test_system_lines_keep_the_latest_reading_per_gpu_and_do_not_ask_for_a_redraw():
    progress = RunProgress()
    gib = 1024**3
    changed = progress.add(
        [
            {"kind": "system", "step": 1, "gpu": [{"index": 0, "mem_used_bytes": gib, "mem_total_bytes": 8 * gib}]},
            {
                "kind": "system",
                "step": 2,
                "gpu": [
                    {"index": 0, "mem_used_bytes": 2 * gib, "mem_total_bytes": 8 * gib, "util": 90},
                    {"index": 1, "mem_used_bytes": 3 * gib, "mem_total_bytes": 8 * gib, "util": 80},
                ],
                "peak_allocated_bytes": 5 * gib,
            },
            {"kind": "system", "step": 3, "gpu": [], "peak_allocated_bytes": 4 * gib},
        ]
    )
    assert not changed
    assert progress.gpus[0] == GpuSample(0, 2 * gib, 8 * gib, 90.0)
    assert progress.gpus[1].mem_fraction == pytest.approx(3 / 8)
    assert progress.system_peak_bytes == 5 * gib  # the largest reading, not the last


def test_non_finite_and_missing_values_are_skipped():
    progress = RunProgress()
    progress.add([train(1, math.nan, grad_norm=None), {"kind": "eval", "step": 1, "eval_loss": None}])
    assert progress.train_losses == []
    assert progress.eval_losses == []
    assert progress.grad_norm is None
    assert progress.last_train_step == 1  # the step still counts for progress


def test_fraction_and_step_take_the_furthest_source():
    progress = running(step=40)
    assert progress.fraction == pytest.approx(0.4)
    progress.add([train(45)])
    assert progress.step == 45
    progress.set_status({"state": "completed", "step": 100, "max_steps": 100})
    assert progress.fraction == 1.0
    assert RunProgress().fraction is None  # max_steps unknown


def test_eta_uses_the_recent_step_rate():
    progress = running(step=0)
    assert progress.eta_seconds() is None  # no train line yet
    progress.add([train(10, elapsed=30.0)])
    assert progress.seconds_per_step == pytest.approx(3.0)  # one line: elapsed / step
    progress.add([train(step, elapsed=30.0 + (step - 10) * 2.0) for step in range(11, 51)])
    assert progress.seconds_per_step == pytest.approx(2.0)  # the window forgets the slow start
    assert progress.eta_seconds() == pytest.approx(50 * 2.0)


def test_a_resumed_run_measures_its_rate_on_the_new_clock():
    progress = running()
    progress.add([train(s, elapsed=s * 5.0) for s in range(1, 21)])
    progress.add([train(s, elapsed=(s - 20) * 1.0) for s in range(21, 31)])  # clock restarted at step 20
    assert progress.seconds_per_step == pytest.approx(1.0)


def test_a_finished_run_has_no_time_left():
    progress = running()
    progress.add([train(50)])
    progress.set_status({"state": "stopped", "max_steps": 100})
    assert progress.eta_seconds() == 0.0


def test_elapsed_runs_from_started_at_to_ended_at_or_now():
    progress = running()
    assert progress.elapsed_seconds(now=START + 90) == pytest.approx(90)
    progress.set_status({**progress.status, "state": "completed", "ended_at": "2025-01-01T10:05:00Z"})
    assert progress.elapsed_seconds(now=START + 9999) == pytest.approx(300)
    no_start = RunProgress()
    no_start.add([train(3, elapsed=12.5)])
    assert no_start.elapsed_seconds(now=START) == 12.5  # the train clock when started_at is missing


def test_deadline_left_and_eta_past_it():
    progress = running(deadline_at="2025-01-01T11:00:00+00:00")
    assert progress.deadline_left_seconds(now=START + 600) == pytest.approx(3000)
    progress.add([train(1, elapsed=100.0)])  # 100 s a step, 99 steps to go
    assert progress.eta_past_deadline(now=START + 600)
    assert progress.deadline_left_seconds(now=START + 4200) == pytest.approx(-600)
    assert running().deadline_left_seconds(now=START) is None


def test_cost_so_far_and_projected():
    progress = running(price_per_hour=3.6)
    assert progress.cost_so_far(now=START + 1800) == pytest.approx(1.8)
    progress.add([train(50, elapsed=50 * 36.0)])  # 36 s a step, 50 steps to go: half an hour more
    assert progress.cost_projected(now=START + 1800) == pytest.approx(1.8 + 1.8)
    progress.set_status({**progress.status, "state": "completed", "ended_at": "2025-01-01T11:00:00+00:00"})
    assert progress.cost_so_far(now=START + 99999) == pytest.approx(3.6)  # stops at ended_at
    assert running().cost_so_far(now=START + 60) is None  # no price, no cost
    assert running(price_per_hour=1.0, started_at=None).cost_so_far(now=START) is None


def test_peak_memory_prefers_the_workers_measure_and_compares_it_with_the_plan():
    gib = 1024**3
    progress = running(peak_memory={"allocated_bytes": 9 * gib, "reserved_bytes": 10 * gib})
    progress.plan = {"peak_bytes": 8 * gib}
    progress.add([{"kind": "system", "step": 1, "gpu": [], "peak_allocated_bytes": 7 * gib}])
    peak = progress.peak_memory()
    assert (peak.measured_bytes, peak.reserved_bytes, peak.planned_bytes) == (9 * gib, 10 * gib, 8 * gib)
    assert peak.ratio == pytest.approx(9 / 8)
    progress.set_status({"state": "running"})  # no peak_memory yet: the system lines stand in
    assert progress.peak_memory().measured_bytes == 7 * gib
    assert RunProgress().peak_memory().ratio is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-01T10:00:00+00:00", START),
        ("2025-01-01T10:00:00Z", START),
        ("2025-01-01T10:00:00", START),  # naive: UTC
        ("2025-01-01T11:00:00+01:00", START),
        (START, START),
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


def test_downsample_keeps_short_series_and_averages_long_ones():
    assert downsample([1, 2, 3], [4, 5, 6], 10) == ([1, 2, 3], [4, 5, 6])
    xs = list(range(10_000))
    ys = [float(x // 25) for x in xs]  # 25 points a bucket, each bucket one value
    out_x, out_y = downsample(xs, ys, 400)
    assert len(out_x) == len(out_y) == 400
    assert out_x[0] == pytest.approx(12.0)  # mean of 0..24
    assert out_y == pytest.approx([float(i) for i in range(400)])


def test_chart_series_are_cut_down():
    progress = RunProgress()
    progress.add([train(s, 1.0 / s) for s in range(1, 1001)])
    (train_x, train_y), (eval_x, _) = progress.chart_series(100)
    assert len(train_x) == len(train_y) == 100
    assert eval_x == []


def test_a_resumed_run_replaces_the_replayed_steps():
    progress = RunProgress()
    progress.add([{"kind": "train", "step": s, "loss": 3.0 - s / 10, "elapsed": s} for s in (5, 10, 15, 20)])
    # killed after step 20, resumed from the checkpoint at step 10: steps 15 and 20 come again
    progress.add([{"kind": "train", "step": s, "loss": 1.0, "elapsed": s - 10} for s in (15, 20, 25)])
    assert progress.train_steps == [5, 10, 15, 20, 25]
    assert progress.train_losses[-3:] == [1.0, 1.0, 1.0]
