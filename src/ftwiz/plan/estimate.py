"""The one mapping from a RunConfig to what it asks for: memory per GPU, speed, steps, disk, host RAM, time, cost.

Pure. Whoever asks "what does this config need?" asks here, so every answer agrees: the wizard's draft,
`ftwiz doctor --config`, the launcher (its distribution choice and host-RAM refusal), and the worker's
plan.json and disk check (which pass the dtype they measured and PEFT's own target names). `config_changes`
goes the other way: a plan's choice as RunConfig keys, for `ftwiz plan`'s `--set` line and the wizard's
Recommend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ftwiz.config.schema import RunConfig
from ftwiz.hardware.gpus import GpuChoice, GpuType
from ftwiz.hardware.stack import Stack
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.choices import MARGIN, Plan
from ftwiz.plan.memory import (
    MemoryBreakdown,
    TrainSetup,
    estimate_memory,
    offloaded_activation_bytes,
    static_bytes,
    targets_for,
)
from ftwiz.plan.speed import SpeedEstimate, Traffic, estimate_speed

PAIRED_METHODS = ("dpo", "orpo", "kto")  # chosen and rejected (KTO: completion and KL) go through the model together
FULL_LOGITS_METHODS = ("orpo",)  # TRL 1.16's ORPO trainer (trl.experimental) still builds the whole logits


@dataclass(frozen=True)
class Estimate:
    """What one RunConfig asks of a machine, per GPU where it says so."""

    setup: TrainSetup
    memory: MemoryBreakdown
    gpu: GpuChoice | None  # the card(s) it was estimated for; None: no card known (bf16, no speed)
    budget_bytes: int | None  # the card's usable memory less the planner's margin
    speed: SpeedEstimate | None  # None without a card's speed
    steps: int | None  # optimizer steps: max_steps, else from the rows; None when neither is known
    disk_bytes: int | None  # checkpoints at their worst moment plus the final save; None when steps are unknown
    host_ram_bytes: int | None  # CPU offload: the offloaded states of this machine's processes
    seconds: float | None  # the whole run, when its length (max_steps or tokens) and the card's speed are known
    cost: float | None  # USD at train.price_per_hour, else the card's typical price
    stack: dict[str, Any] | None = None  # the libraries and loss path the estimate assumes (Stack.to_dict)

    @property
    def peak_bytes(self) -> int:
        return self.memory.total

    @property
    def fits(self) -> bool | None:
        return None if self.budget_bytes is None else self.memory.total <= self.budget_bytes

    def to_dict(self) -> dict[str, Any]:
        """plan.json's shape (and `doctor --json`'s `needs`)."""
        return {
            "peak_bytes": self.memory.total,
            "breakdown": self.memory.to_dict(),
            "trainable_params": self.memory.trainable_params,
            "setup": asdict(self.setup),
            "gpu": None if self.gpu is None else self.gpu.label,
            "budget_bytes": self.budget_bytes,
            "steps": self.steps,
            "disk_bytes": self.disk_bytes,
            "host_ram_bytes": self.host_ram_bytes,
            "step_seconds": None if self.speed is None else round(self.speed.step_seconds, 4),
            "total_seconds": None if self.seconds is None else round(self.seconds, 1),
            "cost": None if self.cost is None else round(self.cost, 2),
            "allocated_bytes": self.memory.allocated,
            "stack": self.stack,
        }


def train_dtype(model_dtype: str, gpu: GpuType | None) -> str:
    """The dtype a run trains in: the config's own, else bf16 where the card has it (and when no card or only a
    capacity is known, as `ftwiz plan` assumes), else fp16."""
    if model_dtype != "auto":
        return model_dtype
    return "bfloat16" if gpu is None or gpu.bf16 or gpu.tflops == 0 else "float16"


def config_targets(config: RunConfig, inspection: Mapping[str, Any]) -> tuple[str, ...]:
    """The module names the config's `adapter.target_modules` resolves to on this model."""
    return targets_for(inspection, config.adapter.target_modules)


def sequences_per_row(method: str) -> int:
    """Sequences each row sends through the model: two for the paired objectives."""
    return 2 if method in PAIRED_METHODS else 1


def loss_path(method: str, stack: Stack, requested: str | None = None) -> str:
    """How the loss will be computed: `requested` (`ftwiz plan --loss`), else what the installed TRL does for the
    method (its fused LM head for SFT, DPO and KTO; the whole logits for ORPO or a TRL without the head)."""
    if requested:
        return requested
    return "full" if method in FULL_LOGITS_METHODS else stack.default_loss


def train_setup(
    config: RunConfig,
    targets: tuple[str, ...] | None,
    dtype: str,
    *,
    stack: Stack | None = None,
    loss: str | None = None,
    kernel: str = "triton",
    loss_share: float = 1.0,
) -> TrainSetup:
    """The knobs of a RunConfig that decide memory and speed (targets resolved, dtype as it will train), on the
    stack's loss path (`kernel`: triton on CUDA, torch elsewhere; `loss_share`: positions with a label)."""
    bits = config.quant.bits
    d = config.distributed
    stack = stack or Stack()
    return TrainSetup(
        adapter=config.adapter.type,
        rank=config.adapter.r,
        targets=targets,
        quant_bits=None if bits == "none" else bits,
        double_quant=config.quant.double_quant,
        dtype=dtype,
        batch_size=config.train.per_device_train_batch_size,
        sequences_per_row=sequences_per_row(config.method),
        seq_len=config.data.max_length,
        gradient_checkpointing=config.train.gradient_checkpointing,
        optimizer=config.train.optim,
        attn_implementation=config.model.attn_implementation or "sdpa",
        lora_dropout=config.adapter.lora_dropout,
        use_dora=config.adapter.use_dora,
        num_virtual_tokens=config.adapter.num_virtual_tokens,
        trainable_layers=config.adapter.trainable_layers,
        strategy=d.strategy if d.num_processes > 1 else "single",
        world_size=d.num_processes,
        cpu_offload=d.cpu_offload and d.strategy != "ddp",
        loss=loss_path(config.method, stack, loss),  # type: ignore[arg-type]
        loss_kernel=kernel,  # type: ignore[arg-type]
        device="cpu" if kernel == "torch" else "cuda",  # the torch fallback is the CPU's path (no Triton there)
        loss_share=loss_share,
        token_tile=stack.token_tile,
        vocab_tile=stack.vocab_tile,
        activation_offloading=config.train.activation_offloading and config.method in ("sft", "cpt"),
        liger=config.train.use_liger_kernel,
    )


def optimizer_steps(config: RunConfig, rows: int | None) -> int | None:
    """train.max_steps, else the valid rows less the held-out share over the effective batch, times the epochs."""
    train, d = config.train, config.distributed
    if train.max_steps > 0:
        return train.max_steps
    if not rows:
        return None
    held_out = int(config.data.val_size) if config.data.val_size >= 1 else round(rows * config.data.val_size)
    per_step = train.per_device_train_batch_size * train.gradient_accumulation_steps * d.num_processes
    return math.ceil(max(rows - held_out, 0) / per_step * train.num_train_epochs)


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


def disk_bytes(config: RunConfig, steps: int, trainable: int, total: int) -> int:
    """The checkpoints at their worst moment and the final adapter (or model)."""
    weight = 4 if config.model.dtype == "float32" else 2
    one = checkpoint_bytes(trainable, total, full=config.adapter.whole_model, weight_bytes=weight)
    return one * (checkpoints_on_disk(steps, config.train.save_steps, config.train.save_total_limit) + 1)


def estimate(
    config: RunConfig,
    inspection: Mapping[str, Any],
    gpu: GpuChoice | None = None,
    *,
    usable_bytes: int | None = None,
    dtype: str | None = None,
    targets: tuple[str, ...] | None = None,
    rows: int | None = None,
    tokens: int | None = None,
    stack: Stack | None = None,
    loss: str | None = None,
    kernel: str = "triton",
    loss_share: float = 1.0,
) -> Estimate:
    """Everything `config` asks for on `gpu` (per GPU; `usable_bytes`: what is free on it, else its capacity).

    `dtype` and `targets` default to what the config resolves to on this card and model; the worker passes
    what it measured. `rows`: valid training rows (before the held-out split), for steps and disk; `tokens`:
    tokens per epoch, for time and cost. `stack`: the installed libraries (hardware/stack.py; default: the
    tested ones), `loss` overrides its loss path, `kernel` is the fused head's (torch on a CPU), `loss_share`
    the positions with a label when known (the worker measures it)."""
    spec = ModelSpec.from_dict(inspection["spec"])
    dtype = dtype or train_dtype(config.model.dtype, gpu.gpu if gpu else None)
    stack = stack or Stack()
    targets = targets if targets is not None else config_targets(config, inspection)
    setup = train_setup(config, targets, dtype, stack=stack, loss=loss, kernel=kernel, loss_share=loss_share)
    memory = estimate_memory(spec, inspection, setup)
    d = config.distributed
    steps = optimizer_steps(config, rows)
    disk = (
        None if steps is None else disk_bytes(config, steps, memory.trainable_params, _params_total(inspection, spec))
    )
    host = memory.offloaded * (d.num_processes // d.num_machines) if memory.offloaded else None
    speed = budget = seconds = cost = None
    if gpu is not None:
        budget = int((usable_bytes if usable_bytes is not None else gpu.gpu.memory_bytes) * (1 - MARGIN))
        traffic = Traffic.of(static_bytes(spec, inspection, setup), gpu.gpu.link_gbs, d.num_machines)
        accum = config.train.gradient_accumulation_steps
        speed = estimate_speed(
            spec,
            setup,
            gpu.gpu.tflops,
            accum,
            d.num_processes,
            traffic,
            bandwidth_gbs=gpu.gpu.bandwidth_gbs,
            offloaded_bytes=offloaded_activation_bytes(spec, inspection, setup),
        )
        seconds, cost = _time_and_cost(config, gpu, speed, tokens)
    described = stack.to_dict(setup.loss, kernel)
    return Estimate(setup, memory, gpu, budget, speed, steps, disk, host, seconds, cost, described)


def _params_total(inspection: Mapping[str, Any], spec: ModelSpec) -> int:
    return int(inspection.get("params_total") or spec.params_total)


def _time_and_cost(
    config: RunConfig, gpu: GpuChoice, speed: SpeedEstimate, tokens: int | None
) -> tuple[float | None, float | None]:
    if not speed.tokens_per_second:
        return None, None
    if config.train.max_steps > 0:
        seconds = config.train.max_steps * speed.step_seconds
    elif tokens:
        seconds = tokens * config.train.num_train_epochs / speed.tokens_per_second
    else:
        return None, None
    price = config.train.price_per_hour
    if price is None and gpu.gpu.price_mid is not None:
        price = gpu.gpu.price_mid * gpu.count * config.distributed.num_machines
    return seconds, (seconds / 3600 * price if price is not None else None)


def config_changes(plan: Plan) -> dict[str, Any]:
    """The plan's choice as RunConfig keys (dotted paths), distribution included when it spans GPUs."""
    c, s = plan.best, plan.best.setup
    changes: dict[str, Any] = {"adapter.type": s.adapter}
    if s.adapter in ("lora", "qlora"):
        changes["adapter.r"] = s.rank
        changes["adapter.target_modules"] = c.targets
    changes.update(
        {
            "data.max_length": s.seq_len,
            "train.per_device_train_batch_size": s.batch_size,
            "train.gradient_accumulation_steps": c.grad_accum,
            "train.gradient_checkpointing": s.gradient_checkpointing,
            "train.optim": s.optimizer,
        }
    )
    if s.activation_offloading:
        changes["train.activation_offloading"] = True
    if s.liger:
        changes["train.use_liger_kernel"] = True
    if plan.learning_rate is not None:
        changes["train.learning_rate"] = plan.learning_rate
    if plan.world_size > 1:
        changes["distributed.num_processes"] = plan.world_size
        changes["distributed.strategy"] = "ddp" if s.strategy == "single" else s.strategy
        changes["distributed.cpu_offload"] = s.cpu_offload
    if plan.nodes > 1:
        changes["distributed.num_machines"] = plan.nodes
    return changes


def set_arguments(changes: Mapping[str, Any]) -> list[str]:
    """RunConfig changes as `--set KEY=VALUE` values (booleans as true/false, lists as [a,b])."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return f"[{','.join(map(str, value))}]"
        return str(value)

    return [f"{key}={text(value)}" for key, value in changes.items()]
