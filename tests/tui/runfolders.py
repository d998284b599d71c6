"""Synthetic run folders for the monitor's tests: what a worker would have written, with fixed values.

A helper module rather than a conftest.py: the e2e tests import the top-level `conftest` by name, and a second
rootless conftest would shadow it.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ftwiz.runs.store import RunDir

RUN_ID = "20250101-100000-demo"
STARTED = "2025-01-01T10:00:00+00:00"
STARTED_EPOCH = 1735725600.0  # STARTED as epoch seconds
ENDED = "2025-01-01T10:05:00+00:00"
FIXED_NOW = STARTED_EPOCH + 600  # the clock snapshot tests pin: ten minutes after the start
GIB = 1024**3


def train_record(step: int, max_steps: int = 200) -> dict[str, Any]:
    """A loss that falls like a real one, with a deterministic wiggle."""
    return {
        "kind": "train",
        "step": step,
        "epoch": round(step / max_steps * 2, 4),
        "loss": round(0.8 + 1.7 * math.exp(-step / 50) + 0.04 * math.sin(step), 4),
        "learning_rate": 2e-4 * 0.5 * (1 + math.cos(math.pi * step / max_steps)),
        "grad_norm": round(0.4 + 0.6 * math.exp(-step / 80), 3),
        "tokens_per_second": 1234.5,
        "elapsed": round(step * 1.5, 2),
    }


def eval_record(step: int) -> dict[str, Any]:
    loss = round(0.9 + 1.6 * math.exp(-step / 55), 4)
    return {"kind": "eval", "step": step, "eval_loss": loss, "perplexity": math.exp(loss)}


def system_record(step: int) -> dict[str, Any]:
    return {
        "kind": "system",
        "step": step,
        "gpu": [{"index": 0, "mem_used_bytes": int(9.5 * GIB), "mem_total_bytes": 24 * GIB, "util": 97}],
        "peak_allocated_bytes": int(7.8 * GIB),
    }


def metrics_lines(steps: range, max_steps: int = 200) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for step in steps:
        records.append(train_record(step, max_steps))
        if step % 50 == 0:
            records.append(eval_record(step))
        if step % 10 == 0:
            records.append(system_record(step))
    return records


def append_metrics(run: RunDir, records: list[dict[str, Any]]) -> None:
    with run.metrics.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(rec) + "\n" for rec in records)


def base_status(**fields: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "run_id": RUN_ID,
        "state": "completed",
        "pid": None,
        "heartbeat": STARTED_EPOCH + 300,
        "step": 200,
        "max_steps": 200,
        "started_at": STARTED,
        "ended_at": ENDED,
        "loss": 0.8,
        "world_size": 1,
        "trainable_params": 4_194_304,
        "total_params": 494_032_768,
        "loss_token_share": 0.42,
        "peak_memory": {"allocated_bytes": int(7.8 * GIB), "reserved_bytes": int(8.4 * GIB), "nvml_bytes": None},
        "deadline_at": "2025-01-01T12:00:00+00:00",
        "price_per_hour": 2.4,
        "decisions": ["gradient checkpointing on: the plan needs it to fit 24 GiB"],
        "final": {"steps": 200, "train_loss": 0.95, "eval_loss_before": 2.5, "eval_loss": 0.95},
    }
    status.update(fields)
    return status


def build_run(
    root: Path, *, steps: range = range(1, 201), log_lines: int = 40, plan: bool = True, **status: Any
) -> RunDir:
    """A run folder `root/runs/RUN_ID` with `steps` of metrics, a plan and a log; `status` overrides fields."""
    run = RunDir(root / "runs" / RUN_ID)
    run.path.mkdir(parents=True)
    run.status.write_text(json.dumps(base_status(**status)), encoding="utf-8")
    append_metrics(run, metrics_lines(steps))
    if plan:
        run.plan.write_text(json.dumps({"peak_bytes": int(7.2 * GIB), "breakdown": {}}), encoding="utf-8")
    run.log.write_text("".join(f"[worker] line {i}: step {i * 5}\n" for i in range(1, log_lines + 1)))
    return run


def live_status(**fields: Any) -> dict[str, Any]:
    """A running worker that is alive: this process's pid and a fresh heartbeat, so never `died`."""
    return {
        "state": "running",
        "pid": os.getpid(),
        "heartbeat": time.time(),
        "ended_at": None,
        "final": None,
        **fields,
    }


def screen_text(app: Any) -> str:
    """What the terminal shows, as plain text: assert on what the user sees, not on widget internals."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)
