"""Step time and throughput from FLOPs (Kaplan et al. / "Transformer Math 101"). Pure.

Training FLOPs per token: forward 2N, backward 4N when every weight trains (6N in all). With a frozen
backbone (LoRA, QLoRA) the backward still propagates activation gradients (2N) but computes no weight
gradients: 4N. Gradient checkpointing recomputes the forward: +2N. Attention adds 12 x layers x hidden x seq
per token (forward + backward, causal mask halves it). N counts the parameters a token passes through: the
active experts of an MoE model, and not the embedding lookup.

Time = FLOPs / (peak TFLOP/s x MFU). MFU (model FLOPs utilisation) is an assumption stated in the output:
about 45% at large micro-batches for bf16 training with fused attention on datacenter GPUs, lower for
4-bit bases, whose matmuls first
dequantize the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwiz.models.spec import ModelSpec
from ftwiz.plan.memory import TrainSetup

MFU = 0.45  # at large micro-batches; see batch_efficiency
SATURATION_TOKENS = 512
QLORA_SLOWDOWN = 0.70  # dequantizing NF4 weights for every matmul (bitsandbytes), forward and recompute
EAGER_SLOWDOWN = 0.85  # materialised attention scores versus SDPA / FlashAttention


@dataclass(frozen=True)
class SpeedEstimate:
    flops_per_token: float
    tokens_per_step: int
    step_seconds: float
    tokens_per_second: float
    mfu: float


def flops_per_token(spec: ModelSpec, setup: TrainSetup) -> float:
    n = spec.params_active - spec.params_embedding
    passes = 6 if setup.adapter == "full" else 4
    if setup.gradient_checkpointing:
        passes += 2
    attention = 12 * spec.layers * spec.hidden_size * setup.seq_len * 0.5
    return passes * n + attention * passes / 6


def batch_efficiency(tokens_per_micro_batch: int) -> float:
    """Small micro-batches leave the GPU idle between kernels: 2,048 tokens reach ~80% of the large-batch rate,
    8,192 about 94%."""
    return tokens_per_micro_batch / (tokens_per_micro_batch + SATURATION_TOKENS)


def estimate_speed(
    spec: ModelSpec, setup: TrainSetup, tflops: float, grad_accum: int = 1, gpus: int = 1
) -> SpeedEstimate:
    """One optimizer step: micro-batch x accumulation x GPUs sequences of `seq_len` tokens."""
    mfu = MFU * batch_efficiency(setup.batch_size * setup.seq_len)
    if setup.bits == 4:
        mfu *= QLORA_SLOWDOWN
    if setup.attn_implementation == "eager":
        mfu *= EAGER_SLOWDOWN
    if setup.dtype == "float32":
        mfu /= 8  # no tensor-core bf16 path: fp32 (TF32 at best)
    per_token = flops_per_token(spec, setup)
    tokens_per_step = setup.batch_size * setup.seq_len * grad_accum * gpus
    throughput = tflops * 1e12 * mfu * gpus / per_token if tflops > 0 else 0.0
    step = tokens_per_step / throughput if throughput else float("inf")
    return SpeedEstimate(per_token, tokens_per_step, step, throughput, mfu)
