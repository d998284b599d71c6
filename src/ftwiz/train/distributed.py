"""What the processes of a multi-process run really do, checked rather than assumed.

accelerate falls back quietly: a config asking for FSDP on a machine without CUDA trains as plain DDP over gloo,
and a model that was prepared once for evaluation is never wrapped for training (its processes then train
separate replicas that never exchange a gradient). These checks turn both into a clear message.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput

log = logging.getLogger("ftwiz.train")

# accelerate's DistributedType values each strategy may run as (MULTI_CPU: DDP over gloo without CUDA).
ENGINES = {"ddp": {"MULTI_GPU", "MULTI_CPU"}, "fsdp": {"FSDP"}, "deepspeed-zero2": {"DEEPSPEED"}}
ENGINES["deepspeed-zero3"] = ENGINES["deepspeed-zero2"]


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def sharded(config: RunConfig) -> bool:
    """Whether each process holds only a slice of the weights (FSDP, ZeRO-3 over several processes)."""
    return world_size() > 1 and config.distributed.strategy in ("fsdp", "deepspeed-zero3")


def check_engine(trainer: Any, config: RunConfig) -> str | None:
    """Refuse (exit 2) when accelerate would run something other than `distributed.strategy`; the line to log."""
    if world_size() <= 1:
        return None
    strategy = config.distributed.strategy
    engine = accelerate_engine(trainer)
    if engine not in ENGINES[strategy]:
        hint = (
            "FSDP and DeepSpeed need CUDA GPUs; without them ftwiz trains over gloo with distributed.strategy ddp."
            if engine == "MULTI_CPU"
            else "Start the run with ftwiz (it writes the accelerate config), not by hand."
        )
        raise BadInput(
            f"distributed.strategy: {strategy} asked for, but accelerate set up {engine} over {world_size()} processes",
            hint=hint,
        )
    return f"distributed: {strategy} as accelerate's {engine} over {world_size()} processes"


def replicas_agree(trainer: Any) -> bool | None:
    """DDP: do all processes hold the same trainable weights after training? One number per rank is compared, so
    a run whose gradients were never all-reduced is caught. None when there is nothing to compare (one process,
    or a sharded engine where every rank holds a different slice)."""
    import torch
    import torch.distributed as dist

    if world_size() <= 1 or not dist.is_initialized():
        return None
    if accelerate_engine(trainer) not in ENGINES["ddp"]:
        return None
    with torch.no_grad():
        local = sum(p.detach().double().sum() for p in trainer.model.parameters() if p.requires_grad)
        local = torch.as_tensor(local, dtype=torch.float64)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    gathered = [torch.zeros((), dtype=torch.float64, device=device) for _ in range(world_size())]
    dist.all_gather(gathered, local.to(device))
    values = [float(v) for v in gathered]
    return max(values) - min(values) <= 1e-6 * max(1.0, abs(values[0]))


def accelerate_engine(trainer: Any) -> str:
    """accelerate's DistributedType for this trainer, as its name (MULTI_GPU, FSDP, DEEPSPEED, ...)."""
    kind = trainer.accelerator.distributed_type
    return str(getattr(kind, "value", kind))


def finish() -> None:
    """Wait for every process, then leave the process group: rank 0 still writes samples and status after the
    others are done, and a process that exits with the group open aborts (SIGABRT), which makes the launcher
    SIGTERM the rest."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
