"""The recommender: search the knobs the user left open, keep what fits with a safety margin, pick the fastest,
and say why with numbers. Pure.

Hand-written because no library plans fine-tuning memory: accelerate's `estimate-memory` counts weights only.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ftwiz.hardware.gpus import CATALOG, GIB, GpuChoice
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.memory import MemoryBreakdown, TrainSetup, estimate_memory
from ftwiz.plan.speed import SpeedEstimate, estimate_speed

MARGIN = 0.10
BATCHES = (1, 2, 4, 8, 16, 32)
DEFAULT_EFFECTIVE_BATCH = 16
DEFAULT_SEQ_LEN = 2048
DEFAULT_OPTIMIZER = {"full": "adamw_torch", "lora": "adamw_torch", "qlora": "paged_adamw_8bit"}


@dataclass(frozen=True)
class Knobs:
    """What the user fixed; None means "recommend it"."""

    adapter: str | None = None
    rank: int | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    grad_accum: int | None = None
    gradient_checkpointing: bool | None = None
    optimizer: str | None = None
    targets: str | list[str] = "all_linear"
    effective_batch: int = DEFAULT_EFFECTIVE_BATCH


@dataclass(frozen=True)
class Candidate:
    setup: TrainSetup
    grad_accum: int
    memory: MemoryBreakdown
    speed: SpeedEstimate
    fits: bool
    targets: str | list[str]

    def to_dict(self) -> dict[str, Any]:
        s = self.setup
        return {
            "config": {
                "adapter": s.adapter,
                "rank": None if s.adapter == "full" else s.rank,
                "batch_size": s.batch_size,
                "seq_len": s.seq_len,
                "grad_accum": self.grad_accum,
                "gradient_checkpointing": s.gradient_checkpointing,
                "optimizer": s.optimizer,
                "targets": None if s.adapter == "full" else self.targets,
            },
            "peak_bytes": self.memory.total,
            "breakdown": self.memory.to_dict(),
            "fits": self.fits,
            "step_seconds": round(self.speed.step_seconds, 4),
            "tokens_per_second": round(self.speed.tokens_per_second, 1),
        }


@dataclass
class Plan:
    gpu: GpuChoice
    budget_bytes: int
    best: Candidate
    alternatives: list[Candidate]
    reasons: list[str]
    tokens: int | None = None
    epochs: float = 1.0
    price_per_hour: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float | None:
        if self.tokens is None or not self.best.speed.tokens_per_second:
            return None
        return self.tokens * self.epochs / self.best.speed.tokens_per_second

    @property
    def cost(self) -> float | None:
        seconds, price = self.total_seconds, self.price_per_hour
        return None if seconds is None or price is None else seconds / 3600 * price * self.gpu.count

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gpu": {"name": self.gpu.gpu.name, "memory_bytes": self.gpu.gpu.memory_bytes, "count": self.gpu.count},
            **self.best.to_dict(),
            "reasons": self.reasons,
            "alternatives": [c.to_dict() for c in self.alternatives],
            "budget_bytes": self.budget_bytes,
            "mfu": self.best.speed.mfu,
        }
        if self.total_seconds is not None:
            data["tokens"] = self.tokens
            data["total_seconds"] = round(self.total_seconds, 1)
            data["cost"] = None if self.cost is None else round(self.cost, 2)
        return data | self.extra


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def _targets_for(inspection: Mapping[str, Any], targets: str | list[str]) -> tuple[str, ...] | None:
    if isinstance(targets, list):
        return tuple(targets)
    return tuple(inspection["targets"].get(targets.replace("-", "_"), inspection["targets"]["all_linear"]))


def candidates(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    gpu: GpuChoice,
    knobs: Knobs,
    budget: int,
    dtype: str = "bfloat16",
    shard: int = 1,
) -> list[Candidate]:
    """Every combination of the open knobs, estimated (`shard` > 1: FSDP over that many GPUs)."""
    adapters = [knobs.adapter] if knobs.adapter else ["lora", "qlora", "full"]
    batches = [knobs.batch_size] if knobs.batch_size else [b for b in BATCHES if b <= max(knobs.effective_batch, 1)]
    ckpts = [knobs.gradient_checkpointing] if knobs.gradient_checkpointing is not None else [False, True]
    seq_len = knobs.seq_len or DEFAULT_SEQ_LEN
    targets = _targets_for(inspection, knobs.targets)
    out = []
    for adapter, batch, ckpt in itertools.product(adapters, batches, ckpts):
        optimizers = [knobs.optimizer] if knobs.optimizer else [DEFAULT_OPTIMIZER.get(adapter, "adamw_torch")]
        if adapter == "full" and not knobs.optimizer:
            optimizers.append("adamw_8bit")  # halves optimizer memory when full fine-tuning is tight
        for optimizer in optimizers:
            setup = TrainSetup(
                adapter=adapter,
                rank=knobs.rank or 16,
                targets=targets,
                dtype=dtype,
                batch_size=batch,
                seq_len=seq_len,
                gradient_checkpointing=ckpt,
                optimizer=optimizer,
                shard=shard,
            )
            accum = knobs.grad_accum or max(1, knobs.effective_batch // (batch * gpu.count))
            memory = estimate_memory(spec, inspection, setup)
            speed = estimate_speed(spec, setup, gpu.gpu.tflops, accum, gpu.count)
            out.append(Candidate(setup, accum, memory, speed, memory.total <= budget, knobs.targets))
    return out


def _rank_key(c: Candidate) -> tuple:
    # Fastest first; at equal speed, less memory (more headroom).
    return (-c.speed.tokens_per_second, c.memory.total)


def recommend(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    gpu: GpuChoice,
    knobs: Knobs,
    *,
    usable_bytes: int | None = None,
    margin: float = MARGIN,
    tokens: int | None = None,
    epochs: float = 1.0,
    price_per_hour: float | None = None,
) -> Plan:
    """The fastest configuration that fits (or, when none does, the smallest, with what would fit)."""
    usable = usable_bytes if usable_bytes is not None else gpu.gpu.memory_bytes
    budget = int(usable * (1 - margin))
    dtype = "bfloat16" if gpu.gpu.bf16 or gpu.gpu.tflops == 0 else "float16"
    pool = candidates(spec, inspection, gpu, knobs, budget, dtype)
    fitting = sorted((c for c in pool if c.fits), key=_rank_key)
    strategy = "ddp" if gpu.count > 1 else "single"
    if not fitting and gpu.count > 1:
        # No replica fits one GPU: shard parameters, gradients and optimizer states over all of them (FSDP).
        sharded = candidates(spec, inspection, gpu, knobs, budget, dtype, shard=gpu.count)
        if any(c.fits for c in sharded):
            pool, strategy = sharded, "fsdp"
            fitting = sorted((c for c in pool if c.fits), key=_rank_key)
    if price_per_hour is None:
        price_per_hour = gpu.gpu.price_mid
    if fitting:
        best, alternatives = fitting[0], _distinct(fitting[1:], fitting[0])
        reasons = _reasons(best, pool, budget, usable, margin)
    else:
        best = min(pool, key=lambda c: c.memory.total)
        alternatives = []
        reasons = _nothing_fits(spec, inspection, best, gpu, budget, usable, knobs)
    if strategy == "ddp":
        reasons.insert(
            1,
            f"{gpu.count} GPUs, DDP: a whole replica fits each GPU, so only gradients travel between "
            "them (FSDP would add parameter traffic for no memory you need)",
        )
    elif strategy == "fsdp":
        replica = min(candidates(spec, inspection, gpu, knobs, budget, dtype), key=lambda c: c.memory.total)
        reasons.insert(
            1,
            f"{gpu.count} GPUs, FSDP: no replica fits one GPU (at least {_gib(replica.memory.total)}); "
            f"sharding weights, gradients and optimizer states over {gpu.count} GPUs gives "
            f"{_gib(best.memory.total)} per GPU (distributed.strategy: fsdp)",
        )
    plan = Plan(gpu, budget, best, alternatives, reasons, tokens, epochs, price_per_hour)
    plan.extra["strategy"] = strategy
    return plan


def _distinct(rest: list[Candidate], best: Candidate, n: int = 3) -> list[Candidate]:
    """A few alternatives that differ from the best in adapter or checkpointing, not only in micro-batch."""
    seen = {(best.setup.adapter, best.setup.gradient_checkpointing)}
    picked = []
    for c in rest:
        key = (c.setup.adapter, c.setup.gradient_checkpointing)
        if key not in seen:
            seen.add(key)
            picked.append(c)
        if len(picked) == n:
            break
    return picked


def _same_but(pool: list[Candidate], best: Candidate, **changes: Any) -> Candidate | None:
    target = replace(best.setup, **changes)
    return next((c for c in pool if c.setup == target), None)


ADAPTER_NAMES = {
    "full": "full fine-tuning",
    "lora": "LoRA on a 16-bit base",
    "qlora": "QLoRA (LoRA on a 4-bit NF4 base)",
    "freeze": "freeze-tuning (the last layers train)",
    "ia3": "IA3 (learned scaling vectors)",
    "prompt_tuning": "prompt tuning (learned virtual tokens)",
    "prefix_tuning": "prefix tuning (learned keys and values)",
}


def _reasons(best: Candidate, pool: list[Candidate], budget: int, usable: int, margin: float) -> list[str]:
    s, m = best.setup, best.memory
    names = ADAPTER_NAMES
    reasons = [
        f"{names[s.adapter]}: peak {_gib(m.total)} of {_gib(budget)} usable ({_gib(usable)} less a {margin:.0%} "
        f"margin), {m.trainable_params / 1e6:,.1f}M trainable parameters"
    ]
    for other in ("lora", "qlora", "full"):
        if other == s.adapter:
            continue
        alt = _same_but(pool, best, adapter=other, optimizer=DEFAULT_OPTIMIZER[other])
        if alt is None:
            continue
        if not alt.fits:
            reasons.append(f"{names[other]} would need {_gib(alt.memory.total)}: does not fit")
        else:
            ratio = best.speed.tokens_per_second / alt.speed.tokens_per_second
            reasons.append(f"{names[other]} fits too ({_gib(alt.memory.total)}) but runs {ratio:.2f}x slower")
    flip = _same_but(pool, best, gradient_checkpointing=not s.gradient_checkpointing)
    if s.gradient_checkpointing:
        off = flip.memory.activations if flip else None
        text = f"activations {_gib(off)} -> {_gib(m.activations)}, " if off is not None else ""
        reasons.append(f"gradient checkpointing on: {text}about +33% step time (the forward runs twice)")
    else:
        on = flip.memory.activations if flip else None
        text = f" (checkpointing would cut them to {_gib(on)} for +33% time)" if on is not None else ""
        reasons.append(f"gradient checkpointing off: activations of {_gib(m.activations)} fit{text}")
    if s.adapter in ("lora", "qlora"):
        reasons.append(
            f"rank r={s.rank}: {m.trainable_params / 1e6:,.1f}M adapter parameters, "
            f"{_gib(m.trainable + m.gradients + m.optimizer)}"
            " with their gradients and optimizer states; rank barely changes speed or peak memory, so choose it for"
            " quality (16 is the common default; try 32-64 for harder tasks)"
        )
    reasons.append(
        f"micro-batch {s.batch_size} x accumulation {best.grad_accum} = {s.batch_size * best.grad_accum} sequences "
        f"x {s.seq_len:,} tokens = {best.speed.tokens_per_step:,} tokens per optimizer step"
    )
    if m.logits > 0.25 * m.total:
        reasons.append(
            f"logits take {_gib(m.logits)} ({s.batch_size} x {s.seq_len:,} tokens x vocabulary, bf16 + fp32 for the "
            "loss): a smaller micro-batch or shorter sequences shrink them most"
        )
    if s.optimizer in ("paged_adamw_8bit", "adamw_8bit"):
        reasons.append(
            f"{s.optimizer}: 8-bit Adam states, {_gib(m.optimizer)} instead of {_gib(m.optimizer * 4)} in fp32"
        )
    reasons.append(
        f"~{best.speed.tokens_per_second:,.0f} tokens/s at {best.speed.mfu:.0%} model FLOPs utilisation "
        f"({best.speed.flops_per_token / 1e9:.1f} GFLOP per token)"
    )
    return reasons


def _nothing_fits(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    smallest: Candidate,
    gpu: GpuChoice,
    budget: int,
    usable: int,
    knobs: Knobs,
) -> list[str]:
    s = smallest.setup
    reasons = [
        f"nothing fits on {gpu.label} ({_gib(budget)} usable): the smallest configuration ({s.adapter}, micro-batch "
        f"{s.batch_size}, checkpointing {'on' if s.gradient_checkpointing else 'off'}, {s.seq_len:,} tokens) "
        f"needs {_gib(smallest.memory.total)}"
    ]
    need = smallest.memory.total / (1 - MARGIN)
    card = next((g for g in sorted(CATALOG.values(), key=lambda g: g.memory_bytes) if g.memory_bytes >= need), None)
    if card:
        reasons.append(f"a bigger card would: {card.name} ({card.memory_gib:.0f} GiB)")
    if knobs.adapter not in (None, "qlora"):
        q = estimate_memory(spec, inspection, replace(s, adapter="qlora", optimizer="paged_adamw_8bit"))
        reasons.append(f"QLoRA would need {_gib(q.total)}")
    shorter = s.seq_len // 2
    while shorter >= 256:
        short = estimate_memory(spec, inspection, replace(s, seq_len=shorter))
        if short.total <= budget:
            reasons.append(f"a shorter sequence would: {shorter:,} tokens needs {_gib(short.total)}")
            break
        shorter //= 2
    static = smallest.memory.weights + smallest.memory.gradients + smallest.memory.optimizer
    for n in (2, 4, 8):
        if static / n + (smallest.memory.total - static) <= budget:
            reasons.append(f"{n} GPUs with FSDP (weights, gradients and optimizer sharded) would fit")
            break
    return reasons


def which_gpu(
    spec: ModelSpec, inspection: Mapping[str, Any], knobs: Knobs, *, tokens: int | None, epochs: float = 1.0
) -> list[dict[str, Any]]:
    """Catalog cards (and counts of them) ranked by the job's cost, or by cost per million tokens."""
    options = []
    for card, count in itertools.product(CATALOG.values(), (1, 2, 4, 8)):
        plan = recommend(spec, inspection, GpuChoice(card, count), knobs, tokens=tokens, epochs=epochs)
        fits = plan.best.fits
        tps = plan.best.speed.tokens_per_second
        price = card.price_mid * count if card.price_mid else None
        per_million = price / 3600 / tps * 1e6 if price and tps and fits else None
        if count > 1 and options and options[-1]["fits"] and options[-1]["gpu"].startswith(card.name):
            continue  # one card already fits: more of the same only for speed, listed once
        options.append(
            {
                "gpu": GpuChoice(card, count).label,
                "fits": fits,
                "peak_bytes": plan.best.memory.total,
                "total_seconds": round(plan.total_seconds, 1) if fits and plan.total_seconds is not None else None,
                "cost": round(plan.cost, 2) if fits and plan.cost is not None else None,
                "cost_per_million_tokens": round(per_million, 4) if per_million else None,
                "config": plan.best.to_dict()["config"] if fits else None,
            }
        )
    key = "cost" if tokens else "cost_per_million_tokens"
    return sorted(options, key=lambda o: (not o["fits"], o[key] if o[key] is not None else float("inf")))
