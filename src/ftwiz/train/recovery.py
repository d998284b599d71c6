"""What the worker does when memory runs out: name the phase, then pick the next, cheaper configuration.

Pure (no torch): the worker catches `torch.OutOfMemoryError`, asks `oom_phase` where it happened (from the
traceback's frames, which works for any model and trainer version) and `next_fallback` what to change. The ladder
keeps the effective batch: first a smaller micro-batch with more accumulation, then gradient checkpointing, then —
only with `train.allow_qlora_fallback` — a 4-bit base.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ftwiz.config.schema import RunConfig

MAX_OOM_RETRIES = 3
EARLY_STEPS = 10
"""Recover only from an OOM in the first optimizer steps: later, the same configuration has already fit."""

# (phase, function names that mark it); the first phase any frame matches wins, so outer phases (save, eval,
# load) win over the forward pass they contain, and backward wins over a checkpointed forward recomputed in it.
_PHASES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "save",
        frozenset(
            {
                "save_model",
                "_save_checkpoint",
                "save_pretrained",
                "_save",
                "_save_optimizer_and_scheduler",
            }
        ),
    ),
    ("eval", frozenset({"evaluate", "evaluation_loop", "prediction_step"})),
    ("load", frozenset({"from_pretrained", "load_model", "prepare_model_for_kbit_training", "get_peft_model"})),
    ("backward", frozenset({"backward", "_engine_run_backward"})),
    ("optimizer step", frozenset({"step", "optimizer_step", "_optimizer_step"})),
    ("forward", frozenset({"forward", "compute_loss", "_call_impl"})),
)


def oom_phase(frames: Iterable[tuple[str, str]]) -> str:
    """The phase that ran out of memory, from (filename, function) frames of the exception's traceback."""
    names = {name for _, name in frames}
    for phase, markers in _PHASES:
        if names & markers:
            return phase
    return "training step"


def next_fallback(config: RunConfig, attempt: int) -> tuple[RunConfig, str] | None:
    """The configuration to retry with after the `attempt`-th OOM (0-based), and what changed; None when
    nothing cheaper is left. Tries, in order from the attempt's rung: halve the micro-batch, turn on gradient
    checkpointing, switch LoRA to QLoRA (if allowed); a rung that does not apply passes to the next."""
    rungs = (_halve_batch, _checkpointing, _qlora)
    for rung in rungs[min(attempt, len(rungs) - 1) :] + rungs:
        if (change := rung(config)) is not None:
            return change
    return None


def _halve_batch(config: RunConfig) -> tuple[RunConfig, str] | None:
    train = config.train
    if train.per_device_train_batch_size <= 1:
        return None
    effective = train.per_device_train_batch_size * train.gradient_accumulation_steps
    batch = train.per_device_train_batch_size // 2
    accumulation = math.ceil(effective / batch)
    new = config.model_copy(
        update={
            "train": train.model_copy(
                update={"per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation}
            )
        }
    )
    return new, (
        f"micro-batch {train.per_device_train_batch_size} -> {batch}, gradient accumulation "
        f"{train.gradient_accumulation_steps} -> {accumulation} (effective batch {effective} -> {batch * accumulation})"
    )


def _checkpointing(config: RunConfig) -> tuple[RunConfig, str] | None:
    if config.train.gradient_checkpointing:
        return None
    new = config.model_copy(update={"train": config.train.model_copy(update={"gradient_checkpointing": True})})
    return new, "gradient checkpointing on (activations recomputed in the backward pass: ~30% slower steps)"


def _qlora(config: RunConfig) -> tuple[RunConfig, str] | None:
    if not config.train.allow_qlora_fallback or config.adapter.type != "lora":
        return None
    data = config.model_dump()
    data["adapter"]["type"] = "qlora"
    data["quant"].update(bits=4, type="nf4", double_quant=True)
    return RunConfig.model_validate(data), "LoRA -> QLoRA: the base weights in 4-bit NF4 (train.allow_qlora_fallback)"
