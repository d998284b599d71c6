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
from ftwiz.plan.memory import MemoryBreakdown, StaticBytes, TrainSetup, estimate_memory, static_bytes, targets_for
from ftwiz.plan.speed import INTER_NODE_GBS, SpeedEstimate, Traffic, estimate_speed

MARGIN = 0.10
STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")  # in order of preference at equal speed
DEEPSPEED_GAIN = 1.10  # DeepSpeed is one more package to install and build: chosen only when 10% faster
STRATEGY_NAMES = {
    "single": "one GPU",
    "ddp": "DDP (a whole replica per GPU)",
    "fsdp": "FSDP (weights, gradients and optimizer states sharded)",
    "deepspeed-zero2": "DeepSpeed ZeRO-2 (gradients and optimizer states sharded)",
    "deepspeed-zero3": "DeepSpeed ZeRO-3 (weights, gradients and optimizer states sharded)",
}
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
    strategy: str | None = None  # several GPUs: ddp | fsdp | deepspeed-zero2 | deepspeed-zero3
    cpu_offload: bool | None = None


@dataclass(frozen=True)
class Candidate:
    setup: TrainSetup
    grad_accum: int
    memory: MemoryBreakdown
    speed: SpeedEstimate
    fits: bool
    targets: str | list[str]
    whole: StaticBytes | None = None  # the same states before sharding or offload

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
                "strategy": s.strategy,
                "cpu_offload": s.cpu_offload,
            },
            "peak_bytes": self.memory.total,
            "breakdown": self.memory.to_dict(),
            "fits": self.fits,
            "step_seconds": round(self.speed.step_seconds, 4),
            "tokens_per_second": round(self.speed.tokens_per_second, 1),
            **({"host_bytes_per_process": self.memory.offloaded} if self.memory.offloaded else {}),
        }


@dataclass
class Plan:
    gpu: GpuChoice  # count: GPUs per machine
    budget_bytes: int
    best: Candidate
    alternatives: list[Candidate]
    reasons: list[str]
    tokens: int | None = None
    epochs: float = 1.0
    price_per_hour: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    nodes: int = 1

    @property
    def world_size(self) -> int:
        return self.gpu.count * self.nodes

    @property
    def total_seconds(self) -> float | None:
        if self.tokens is None or not self.best.speed.tokens_per_second:
            return None
        return self.tokens * self.epochs / self.best.speed.tokens_per_second

    @property
    def cost(self) -> float | None:
        seconds, price = self.total_seconds, self.price_per_hour
        return None if seconds is None or price is None else seconds / 3600 * price * self.world_size

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gpu": {"name": self.gpu.gpu.name, "memory_bytes": self.gpu.gpu.memory_bytes, "count": self.gpu.count},
            "nodes": self.nodes,
            "strategy": self.best.setup.strategy,
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


def candidates(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    gpu: GpuChoice,
    knobs: Knobs,
    budget: int,
    dtype: str = "bfloat16",
    strategy: str = "single",
    cpu_offload: bool = False,
    nodes: int = 1,
) -> list[Candidate]:
    """Every combination of the open knobs, estimated for one strategy over gpu.count x nodes GPUs."""
    world = gpu.count * nodes
    adapters = [knobs.adapter] if knobs.adapter else ["lora", "qlora", "full"]
    batches = [knobs.batch_size] if knobs.batch_size else [b for b in BATCHES if b <= max(knobs.effective_batch, 1)]
    ckpts = [knobs.gradient_checkpointing] if knobs.gradient_checkpointing is not None else [False, True]
    seq_len = knobs.seq_len or DEFAULT_SEQ_LEN
    targets = targets_for(inspection, knobs.targets)
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
                strategy=strategy,  # type: ignore[arg-type]
                world_size=world,
                cpu_offload=cpu_offload,
            )
            accum = knobs.grad_accum or max(1, knobs.effective_batch // (batch * world))
            memory = estimate_memory(spec, inspection, setup)
            whole = static_bytes(spec, inspection, setup)
            traffic = Traffic.of(whole, gpu.gpu.link_gbs, nodes)
            speed = estimate_speed(spec, setup, gpu.gpu.tflops, accum, world, traffic)
            out.append(Candidate(setup, accum, memory, speed, memory.total <= budget, knobs.targets, whole))
    return out


def _strategy_pools(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    gpu: GpuChoice,
    knobs: Knobs,
    budget: int,
    dtype: str,
    nodes: int,
) -> list[Candidate]:
    """Every strategy's candidates: one GPU alone, or each strategy over all of them; CPU offload only when
    nothing fits in GPU memory (it trades a lot of speed) or when asked for."""
    if gpu.count * nodes == 1:
        return candidates(spec, inspection, gpu, knobs, budget, dtype)
    strategies = [knobs.strategy] if knobs.strategy else list(STRATEGIES)

    def pool(offload: bool) -> list[Candidate]:
        chosen = [s for s in strategies if not (offload and s == "ddp")]
        return [c for s in chosen for c in candidates(spec, inspection, gpu, knobs, budget, dtype, s, offload, nodes)]

    if knobs.cpu_offload is not None:
        return pool(knobs.cpu_offload)
    resident = pool(False)
    return resident if any(c.fits for c in resident) else resident + pool(True)


def _rank_key(c: Candidate) -> tuple:
    # Fastest first (DeepSpeed only when clearly faster); at equal speed the simpler strategy, then less memory.
    s = c.setup
    speed = c.speed.tokens_per_second / (DEEPSPEED_GAIN if s.strategy.startswith("deepspeed") else 1.0)
    order = STRATEGIES.index(s.strategy) if s.strategy in STRATEGIES else 0
    return (-round(speed, 6), s.cpu_offload, order, c.memory.total)


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
    nodes: int = 1,
) -> Plan:
    """The fastest configuration that fits (or, when none does, the smallest, with what would fit); over several
    GPUs (gpu.count per machine x nodes) the strategy is one more knob, chosen by fit and then speed."""
    usable = usable_bytes if usable_bytes is not None else gpu.gpu.memory_bytes
    budget = int(usable * (1 - margin))
    dtype = "bfloat16" if gpu.gpu.bf16 or gpu.gpu.tflops == 0 else "float16"
    pool = _strategy_pools(spec, inspection, gpu, knobs, budget, dtype, nodes)
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
    if gpu.count * nodes > 1:
        reasons[1:1] = _strategy_reasons(best, pool, gpu, nodes)
    return Plan(gpu, budget, best, alternatives, reasons, tokens, epochs, price_per_hour, nodes=nodes)


def _strategy_reasons(best: Candidate, pool: list[Candidate], gpu: GpuChoice, nodes: int) -> list[str]:
    """Why this strategy over the others, each compared at the best's knobs (or its own best fit)."""
    s = best.setup
    where = f"{gpu.count} GPUs" if nodes == 1 else f"{nodes} machines x {gpu.count} GPUs"
    offload = " with CPU offload" if s.cpu_offload else ""
    lines = [f"{where}: {STRATEGY_NAMES[s.strategy]}{offload}, {_gib(best.memory.total)} per GPU"]
    for other in STRATEGIES:
        if other == s.strategy:
            continue
        same = [c for c in pool if c.setup.strategy == other and c.setup.cpu_offload == s.cpu_offload]
        if not same:
            continue
        alt = _same_but(same, best, strategy=other) or min(same, key=lambda c: c.memory.total)
        if not alt.fits:
            lines.append(f"{STRATEGY_NAMES[other]}: {_gib(alt.memory.total)} per GPU, does not fit")
            continue
        known = best.speed.tokens_per_second > 0 and alt.speed.tokens_per_second > 0
        ratio = best.speed.tokens_per_second / alt.speed.tokens_per_second if known else 1.0
        if other.startswith("deepspeed") and not s.strategy.startswith("deepspeed"):
            pace = f"{1 / ratio:.2f}x faster" if ratio < 1 else f"{ratio:.2f}x slower"
            pace = "as fast" if abs(ratio - 1) <= 0.005 else pace
            why = f"{pace}, and DeepSpeed is one more package to install: ftwiz takes it only when 10% faster"
        else:
            why = f"{ratio:.2f}x slower" if ratio > 1.005 else "as fast"
        lines.append(f"{STRATEGY_NAMES[other]} fits too ({_gib(alt.memory.total)} per GPU): {why}")
    sp = best.speed
    timed = sp.tokens_per_second > 0  # a bare capacity (--gpu 24GB) has no speed to compare
    if sp.comm_bytes and timed:
        link = (
            f"{min(gpu.gpu.link_gbs, INTER_NODE_GBS):g} GB/s between machines (assumed: 100 Gb/s per GPU)"
            if nodes > 1
            else f"{gpu.gpu.link_gbs:g} GB/s between GPUs"
        )
        compute = sp.step_seconds - sp.host_seconds
        lines.append(
            f"communication: {sp.comm_bytes / 1e9:,.2f} GB per GPU and optimizer step at ~{link}: "
            f"{sp.comm_seconds:.2f} s, {'mostly hidden behind' if sp.comm_seconds < compute else 'longer than'} "
            f"{compute:.2f} s of compute"
        )
    resident = [c for c in pool if not c.setup.cpu_offload]
    if s.cpu_offload and resident:
        engine = "DeepSpeed's CPU-Adam" if s.strategy.startswith("deepspeed") else "torch's AdamW"
        time = f": {sp.host_seconds:.2f} s of each {sp.step_seconds:.2f} s step" if timed else ""
        smallest = min(resident, key=lambda c: c.memory.total)
        lines.append(
            f"CPU offload: nothing fits in GPU memory alone (the smallest, {smallest.setup.strategy}, needs "
            f"{_gib(smallest.memory.total)} per GPU); at least {_gib(best.memory.offloaded)} per process in "
            f"host memory ({_gib(best.memory.offloaded * gpu.count)} on each machine), and the optimizer step runs "
            f"on the CPU with {engine}{time}"
        )
    return lines


def _distinct(rest: list[Candidate], best: Candidate, n: int = 3) -> list[Candidate]:
    """A few alternatives that differ from the best in adapter, checkpointing or strategy, not only in
    micro-batch."""

    def kind(c: Candidate) -> tuple:
        return (c.setup.adapter, c.setup.gradient_checkpointing, c.setup.strategy, c.setup.cpu_offload)

    seen = {kind(best)}
    picked = []
    for c in rest:
        if kind(c) not in seen:
            seen.add(kind(c))
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
            speeds = best.speed.tokens_per_second, alt.speed.tokens_per_second
            pace = f" but runs {speeds[0] / speeds[1]:.2f}x slower" if all(speeds) else ""
            reasons.append(f"{names[other]} fits too ({_gib(alt.memory.total)}){pace}")
    flip = _same_but(pool, best, gradient_checkpointing=not s.gradient_checkpointing)
    if s.gradient_checkpointing:
        off = flip.memory.activations if flip else None
        text = f"activations {_gib(off)} -> {_gib(m.activations)}, " if off is not None else ""
        reasons.append(f"gradient checkpointing on: {text}about +33% step time (the forward runs twice)")
    else:
        on = flip.memory.activations if flip else None
        text = f" (checkpointing would cut them to {_gib(on)} for +33% time)" if on is not None else ""
        reasons.append(f"gradient checkpointing off: activations of {_gib(m.activations)} fit{text}")
    whole = best.whole or StaticBytes(m.weights, m.trainable, m.gradients, m.optimizer, m.trainable_params)
    if s.adapter in ("lora", "qlora"):
        reasons.append(
            f"rank r={s.rank}: {m.trainable_params / 1e6:,.1f}M adapter parameters, "
            f"{_gib(whole.trainable + whole.gradients + whole.optimizer)}"
            " with their gradients and optimizer states; rank barely changes speed or peak memory, so choose it for"
            " quality (16 is the common default; try 32-64 for harder tasks)"
        )
    reasons.append(
        f"micro-batch {s.batch_size} x accumulation {best.grad_accum}"
        + (f" x {s.world_size} GPUs" if s.world_size > 1 else "")
        + f" = {s.batch_size * best.grad_accum * s.world_size} sequences x {s.seq_len:,} tokens = "
        f"{best.speed.tokens_per_step:,} tokens per optimizer step"
    )
    if m.logits > 0.25 * m.total:
        reasons.append(
            f"logits take {_gib(m.logits)} ({s.batch_size} x {s.seq_len:,} tokens x vocabulary, bf16 + fp32 for the "
            "loss): a smaller micro-batch or shorter sequences shrink them most"
        )
    if s.optimizer in ("paged_adamw_8bit", "adamw_8bit"):
        reasons.append(
            f"{s.optimizer}: 8-bit Adam states, {_gib(whole.optimizer)} instead of {_gib(whole.optimizer * 4)} in "
            "fp32" + (" (for the whole model, before sharding)" if s.world_size > 1 else "")
        )
    if best.speed.tokens_per_second > 0:
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
