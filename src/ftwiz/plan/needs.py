"""What one RunConfig asks of a machine: GPU memory per GPU, disk for its checkpoints, host RAM for CPU offload.

`ftwiz doctor --config` sets these beside what the machine has. Light: no torch (the model is inspected from the
catalog, the cache, or once in a subprocess); the data's row count comes from the data checker's scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftwiz.config.schema import RunConfig
from ftwiz.plan.memory import TrainSetup, estimate_memory


@dataclass(frozen=True)
class Needs:
    gpu_bytes: int  # the planner's peak per GPU
    disk_bytes: int | None  # checkpoints at their worst moment plus the final save; None when steps are unknown
    ram_bytes: int | None  # CPU offload: the offloaded states of this machine's processes
    steps: int | None


def checkpoint_bytes(trainable: int, total: int, *, full: bool, weight_bytes: int) -> int:
    """Disk one checkpoint takes: the trained weights (fp32 adapters, or the whole model in its dtype) plus the
    optimizer's two fp32 moments per trained parameter (AdamW; 8-bit optimizers take less)."""
    weights = total * weight_bytes if full else trainable * 4
    return weights + trainable * 8


def checkpoints_on_disk(total_steps: int, save_steps: int | None, save_total_limit: int | None) -> int:
    """How many checkpoints lie on disk at the worst moment: Trainer writes a new one before it deletes the
    oldest beyond `save_total_limit`, and the graceful stop adds one."""
    if not save_steps:
        return 1  # only the stop's checkpoint
    saves = total_steps // save_steps + 1
    return min(saves, save_total_limit + 1) if save_total_limit else saves


def training_rows(config: RunConfig) -> int | None:
    """Valid rows in local data (None for a hub dataset: counting it would mean downloading it)."""
    from pathlib import Path

    from ftwiz import bundled
    from ftwiz.data.check import scan
    from ftwiz.data.source import rows_from
    from ftwiz.errors import FtwizError

    try:
        path = Path(bundled.resolve(config.data.path, key="data.path")).expanduser()
        if not path.exists():
            return None
        rows = rows_from(str(path), subset=config.data.subset, split=config.data.split)
        fmt = None if config.data.format == "auto" else config.data.format
        return scan(rows, fmt=fmt, columns=config.data.columns).valid_rows
    except (FtwizError, OSError, ValueError):
        return None


def config_needs(config: RunConfig, rows: int | None) -> Needs:
    from ftwiz.models.inspect import inspect_reference
    from ftwiz.models.spec import ModelSpec

    inspection = inspect_reference(config.model.id, rank=config.adapter.r, isolate=True)
    memory = estimate_memory(
        ModelSpec.from_dict(inspection["spec"]), inspection, TrainSetup.from_run_config(config, None, "bfloat16")
    )
    train, d = config.train, config.distributed
    steps: int | None = train.max_steps if train.max_steps > 0 else None
    if steps is None and rows:
        held_out = int(config.data.val_size) if config.data.val_size >= 1 else round(rows * config.data.val_size)
        per_step = train.per_device_train_batch_size * train.gradient_accumulation_steps * d.num_processes
        steps = math.ceil(max(rows - held_out, 0) / per_step * train.num_train_epochs)
    disk = None
    if steps is not None:
        one = checkpoint_bytes(
            memory.trainable_params,
            int(inspection["params_total"]),
            full=config.adapter.whole_model,
            weight_bytes=4 if config.model.dtype == "float32" else 2,
        )
        disk = one * (checkpoints_on_disk(steps, train.save_steps, train.save_total_limit) + 1)
    ram = memory.offloaded * (d.num_processes // d.num_machines) if memory.offloaded else None
    return Needs(memory.total, disk, ram, steps)
