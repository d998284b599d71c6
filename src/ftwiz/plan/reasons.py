"""Why the recommender chose what it chose, with numbers: the adapter against the others, checkpointing, rank,
batch, logits, optimizer and speed; the strategy over several GPUs; and, when nothing fits, what would. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ftwiz.hardware.gpus import CATALOG, GIB, GpuChoice
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.choices import DEFAULT_OPTIMIZER, MARGIN, STRATEGIES, STRATEGY_NAMES, Candidate, Knobs
from ftwiz.plan.memory import StaticBytes, estimate_memory
from ftwiz.plan.speed import INTER_NODE_GBS


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def _same_but(pool: list[Candidate], best: Candidate, **changes: Any) -> Candidate | None:
    target = replace(best.setup, **changes)
    return next((c for c in pool if c.setup == target), None)


def strategy_reasons(best: Candidate, pool: list[Candidate], gpu: GpuChoice, nodes: int) -> list[str]:
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


ADAPTER_NAMES = {
    "full": "full fine-tuning",
    "lora": "LoRA on a 16-bit base",
    "qlora": "QLoRA (LoRA on a 4-bit NF4 base)",
    "freeze": "freeze-tuning (the last layers train)",
    "ia3": "IA3 (learned scaling vectors)",
    "prompt_tuning": "prompt tuning (learned virtual tokens)",
    "prefix_tuning": "prefix tuning (learned keys and values)",
}


# The full fine-tuning rate of each objective is its TRL trainer's default (SFTConfig 2e-5; DPOConfig, ORPOConfig
# and KTOConfig 1e-6). LoRA trains a low-rank delta from zero and takes ~10x that (the LoRA and
# QLoRA papers' settings: 2e-4 where full fine-tuning uses 2e-5).
FULL_LEARNING_RATE = {"sft": 2e-5, "cpt": 2e-5, "dpo": 1e-6, "orpo": 1e-6, "kto": 1e-6}
_TRAINER = {"cpt": "SFT"}  # whose default the rate is: cpt trains with TRL's SFTTrainer
LORA_LEARNING_RATE_FACTOR = 10


def _rate(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")  # 2e-4, as people write it


def learning_rate(adapter: str, method: str = "sft") -> tuple[float, str] | None:
    """The learning rate for this adapter and objective, and why, with the numbers; None for the adapters whose
    rate has no rule of thumb here (freeze, IA3, prompt and prefix tuning keep the config's)."""
    method = method if method in FULL_LEARNING_RATE else "sft"
    full, trainer = FULL_LEARNING_RATE[method], _TRAINER.get(method, method.upper())
    lora = float(f"{full * LORA_LEARNING_RATE_FACTOR:.3g}")  # 2e-4, not 0.00020000000000000004
    if adapter in ("lora", "qlora"):
        return lora, (
            f"learning rate {_rate(lora)}: LoRA updates a low-rank delta and learns best at "
            f"~{LORA_LEARNING_RATE_FACTOR}× the full fine-tuning rate ({_rate(full)}, TRL's {trainer} default)"
        )
    if adapter == "full":
        return full, (
            f"learning rate {_rate(full)}: full fine-tuning moves every weight, so it takes TRL's {trainer} default "
            f"({_rate(full)}); LoRA would take ~{LORA_LEARNING_RATE_FACTOR}× that ({_rate(lora)})"
        )
    return None


def chosen_reasons(best: Candidate, pool: list[Candidate], budget: int, usable: int, margin: float) -> list[str]:
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
    if m.optimizer_step > 0:
        reasons.append(
            f"the optimizer step sets the peak: torch's AdamW ({s.optimizer}) copies every second moment at once, "
            f"+{_gib(m.optimizer_step)} beyond the backward pass; train.optim=adamw_torch_fused updates in one "
            "kernel without the copy"
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


def nothing_fits(
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
    if smallest.memory.optimizer_step > 0:
        fused = estimate_memory(spec, inspection, replace(s, optimizer="adamw_torch_fused"))
        verdict = "would fit" if fused.total <= budget else "is not enough"
        reasons.append(
            f"train.optim=adamw_torch_fused {verdict}: {_gib(fused.total)} without the step's copy of every second "
            f"moment ({_gib(smallest.memory.optimizer_step)})"
        )
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


INSTALL_COSTS = {
    "activation_offloading": "built into TRL: nothing to install",
    "liger": "`pip install liger-kernel`: pure Python with Triton kernels, no build, CUDA only",
}


def memory_option_reasons(smallest: Candidate, options: Any) -> list[str]:
    """Why a memory saver is on: nothing fitted without it (the smallest such configuration's peak), what it
    moves or saves, and what it costs to install."""
    out = [f"nothing fits as is (the smallest configuration needs {_gib(smallest.memory.total)})"]
    if options.activation_offloading:
        out.append(
            "train.activation_offloading on: TRL keeps the tensors saved for the backward pass in pinned host memory "
            "(about two layers stay on the GPU); a little slower, host RAM holds the rest; "
            + INSTALL_COSTS["activation_offloading"]
        )
    if options.liger:
        out.append(
            "train.use_liger_kernel on: Liger's RMSNorm and SwiGLU keep fewer activations (the norms' fp32 copies, "
            "the MLP's activation); " + INSTALL_COSTS["liger"]
        )
    return out
