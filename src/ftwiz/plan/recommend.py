"""The recommender: search the knobs the user left open, keep what fits with a safety margin, pick the fastest,
and say why with numbers (plan/reasons.py). Pure.

Hand-written because no library plans fine-tuning memory: accelerate's `estimate-memory` counts weights only.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ftwiz.hardware.gpus import CATALOG, GpuChoice
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.choices import (
    BATCHES,
    DEEPSPEED_GAIN,
    DEFAULT_OPTIMIZER,
    DEFAULT_SEQ_LEN,
    MARGIN,
    STRATEGIES,
    Candidate,
    Knobs,
    Plan,
)
from ftwiz.plan.estimate import FULL_LOGITS_METHODS, sequences_per_row
from ftwiz.plan.memory import TrainSetup, estimate_memory, offloaded_activation_bytes, static_bytes, targets_for
from ftwiz.plan.reasons import chosen_reasons, learning_rate, memory_option_reasons, nothing_fits, strategy_reasons
from ftwiz.plan.speed import Traffic, estimate_speed


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
    options: MemoryOptions | None = None,
) -> list[Candidate]:
    """Every combination of the open knobs, estimated for one strategy over gpu.count x nodes GPUs (with the
    memory options `options`, else the ones the user fixed)."""
    options = options or MemoryOptions(bool(knobs.activation_offloading), bool(knobs.liger))
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
                strategy=strategy,
                world_size=world,
                cpu_offload=cpu_offload,
                loss=knobs.loss or ("full" if knobs.method in FULL_LOGITS_METHODS else "fused"),  # type: ignore[arg-type]
                sequences_per_row=sequences_per_row(knobs.method),
                activation_offloading=options.activation_offloading,
                liger=options.liger,
            )
            accum = knobs.grad_accum or max(1, knobs.effective_batch // (batch * world))
            memory = estimate_memory(spec, inspection, setup)
            whole = static_bytes(spec, inspection, setup)
            traffic = Traffic.of(whole, gpu.gpu.link_gbs, nodes)
            speed = estimate_speed(
                spec,
                setup,
                gpu.gpu.tflops,
                accum,
                world,
                traffic,
                bandwidth_gbs=gpu.gpu.bandwidth_gbs,
                offloaded_bytes=offloaded_activation_bytes(spec, inspection, setup),
            )
            out.append(Candidate(setup, accum, memory, speed, memory.total <= budget, knobs.targets, whole))
    return out


@dataclass(frozen=True)
class MemoryOptions:
    """Memory savers beyond the knobs, in the order the recommender tries them when nothing fits."""

    activation_offloading: bool = False
    liger: bool = False


def _options_to_try(knobs: Knobs) -> list[MemoryOptions]:
    """When nothing fits as asked: TRL's activation offloading (nothing to install), then Liger's kernels on top
    (a pip install); a knob the user fixed is kept."""
    offload = [knobs.activation_offloading] if knobs.activation_offloading is not None else [False, True]
    liger = [knobs.liger] if knobs.liger is not None else [False, True]
    tried = [MemoryOptions(o, lg) for lg in liger for o in offload]
    return tried[1:]  # the first is what was tried already


def _strategy_pools(
    spec: ModelSpec,
    inspection: Mapping[str, Any],
    gpu: GpuChoice,
    knobs: Knobs,
    budget: int,
    dtype: str,
    nodes: int,
    options: MemoryOptions | None = None,
) -> list[Candidate]:
    """Every strategy's candidates: one GPU alone, or each strategy over all of them; CPU offload only when
    nothing fits in GPU memory (it trades a lot of speed) or when asked for."""
    if gpu.count * nodes == 1:
        return candidates(spec, inspection, gpu, knobs, budget, dtype, options=options)
    strategies = [knobs.strategy] if knobs.strategy else list(STRATEGIES)

    def pool(offload: bool) -> list[Candidate]:
        chosen = [s for s in strategies if not (offload and s == "ddp")]
        return [
            c
            for s in chosen
            for c in candidates(spec, inspection, gpu, knobs, budget, dtype, s, offload, nodes, options)
        ]

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
    method: str = "sft",
) -> Plan:
    """The fastest configuration that fits (or, when none does, the smallest, with what would fit); over several
    GPUs (gpu.count per machine x nodes) the strategy is one more knob, chosen by fit and then speed. The learning
    rate follows the chosen adapter and the objective (`method`)."""
    knobs = replace(knobs, method=method)  # the same objective the estimate of the chosen config will see
    usable = usable_bytes if usable_bytes is not None else gpu.gpu.memory_bytes
    budget = int(usable * (1 - margin))
    dtype = "bfloat16" if gpu.gpu.bf16 or gpu.gpu.tflops == 0 else "float16"
    pool = _strategy_pools(spec, inspection, gpu, knobs, budget, dtype, nodes)
    saver: list[str] = []
    if not any(c.fits for c in pool):
        for options in _options_to_try(knobs):
            tried = _strategy_pools(spec, inspection, gpu, knobs, budget, dtype, nodes, options)
            if any(c.fits for c in tried):
                saver = memory_option_reasons(min(pool, key=lambda c: c.memory.total), options)
                pool = tried
                break
    fitting = sorted((c for c in pool if c.fits), key=_rank_key)
    if price_per_hour is None:
        price_per_hour = gpu.gpu.price_mid
    if fitting:
        best, alternatives = fitting[0], _distinct(fitting[1:], fitting[0])
        reasons = chosen_reasons(best, pool, budget, usable, margin)
    else:
        best = min(pool, key=lambda c: c.memory.total)
        alternatives = []
        reasons = nothing_fits(spec, inspection, best, gpu, budget, usable, knobs)
    if gpu.count * nodes > 1:
        reasons[1:1] = strategy_reasons(best, pool, gpu, nodes)
    reasons[1:1] = saver
    rate = learning_rate(best.setup.adapter, method) if fitting else None
    if rate is not None:
        reasons.append(rate[1])
    return Plan(
        gpu,
        budget,
        best,
        alternatives,
        reasons,
        tokens,
        epochs,
        price_per_hour,
        nodes=nodes,
        learning_rate=None if rate is None else rate[0],
    )


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
