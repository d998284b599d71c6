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

Several GPUs add traffic per GPU and optimizer step (ring collectives move (n-1)/n of the data):
- DDP: one all-reduce of the gradients (2x their bytes); accumulation steps run without syncing.
- FSDP / ZeRO-3: for every micro-batch, all-gather the weights twice (forward, backward) and reduce-scatter
  the gradients.
- ZeRO-2: reduce-scatter the gradients every micro-batch, all-gather the updated trainable weights once.
It overlaps compute (buckets reduce during the backward; FSDP prefetches the next layer) except about
EXPOSED_COMM of it. CPU offload adds the optimizer step on the host, not overlapped, and the PCIe copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwiz.models.spec import ModelSpec
from ftwiz.plan.memory import StaticBytes, TrainSetup

MFU = 0.45  # at large micro-batches; see batch_efficiency
SATURATION_TOKENS = 512
QLORA_SLOWDOWN = 0.70  # dequantizing NF4 weights for every matmul (bitsandbytes), forward and recompute
EAGER_SLOWDOWN = 0.85  # materialised attention scores versus SDPA / FlashAttention
SHARDED_SLOWDOWN = 0.93  # FSDP / ZeRO-3: gathering and freeing every layer's weights costs kernels and syncs
EXPOSED_COMM = 0.10  # share of the collectives that compute does not hide (the first gather, the last reduce)
INTER_NODE_GBS = 12.5  # per GPU between machines: 100 Gb/s, a common rented-cluster network (assumption)
PCIE_GBS = 20.0  # host <-> GPU copies (PCIe Gen4 x16, pinned memory)
# Optimizer updates per second on one machine's CPUs: DeepSpeed's vectorised CPU-Adam is 5-6x faster than
# torch's AdamW on CPU tensors (the ZeRO-Offload paper, Ren et al. 2021); absolute rates are an assumption.
HOST_ADAM_PARAMS_PER_SECOND = {"deepspeed": 1.0e9, "torch": 0.17e9}


@dataclass(frozen=True)
class SpeedEstimate:
    flops_per_token: float
    tokens_per_step: int
    step_seconds: float
    tokens_per_second: float
    mfu: float
    comm_bytes: float = 0.0  # per GPU and optimizer step
    comm_seconds: float = 0.0  # the same at the link's bandwidth, before overlap
    host_seconds: float = 0.0  # CPU offload: the optimizer step on the host and the PCIe copies


@dataclass(frozen=True)
class Traffic:
    """What several GPUs exchange, from the memory model (whole, unsharded sizes)."""

    weight_bytes: float  # every parameter as stored (the 4-bit packing on a quantized base)
    grad_bytes: float  # the trainable parameters' gradients
    trainable_bytes: float  # the trainable parameters themselves
    trainable_params: int
    link_gbs: float  # between the GPUs of one machine
    nodes: int = 1

    @classmethod
    def of(cls, whole: StaticBytes, link_gbs: float, nodes: int = 1) -> Traffic:
        trained = whole.trainable or whole.weights  # full fine-tuning: the weights are what train
        return cls(whole.weights + whole.trainable, whole.gradients, trained, whole.trainable_params, link_gbs, nodes)


def comm_bytes(setup: TrainSetup, traffic: Traffic, grad_accum: int) -> float:
    """Bytes each GPU sends per optimizer step for its strategy (0 on one GPU)."""
    n = setup.world_size
    if n <= 1 or setup.strategy == "single":
        return 0.0
    ring = (n - 1) / n
    if setup.strategy == "ddp":
        return 2 * ring * traffic.grad_bytes
    if setup.strategy == "deepspeed-zero2":
        return ring * (grad_accum * traffic.grad_bytes + traffic.trainable_bytes)
    return ring * grad_accum * (2 * traffic.weight_bytes + traffic.grad_bytes)  # fsdp, deepspeed-zero3


def host_seconds(setup: TrainSetup, traffic: Traffic, grad_accum: int) -> float:
    """CPU offload: the optimizer update on each machine's CPUs, and the copies over PCIe."""
    if not setup.cpu_offload or setup.strategy in ("single", "ddp"):
        return 0.0
    engine = "deepspeed" if setup.strategy.startswith("deepspeed") else "torch"
    update = traffic.trainable_params / traffic.nodes / HOST_ADAM_PARAMS_PER_SECOND[engine]
    n = max(1, setup.world_size)
    copies = (traffic.grad_bytes + traffic.trainable_bytes) / n  # gradients down, updated weights up
    if setup.shards_weights:  # the weight shards live on the host: fetched for every gather
        copies += grad_accum * 2 * traffic.weight_bytes / n
    return update + copies / (PCIE_GBS * 1e9)


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
    spec: ModelSpec,
    setup: TrainSetup,
    tflops: float,
    grad_accum: int = 1,
    gpus: int = 1,
    traffic: Traffic | None = None,
) -> SpeedEstimate:
    """One optimizer step: micro-batch x accumulation x GPUs sequences of `seq_len` tokens; with `traffic`, the
    strategy's communication and offload time too."""
    mfu = MFU * batch_efficiency(setup.batch_size * setup.seq_len)
    if setup.bits == 4:
        mfu *= QLORA_SLOWDOWN
    if setup.attn_implementation == "eager":
        mfu *= EAGER_SLOWDOWN
    if setup.dtype == "float32":
        mfu /= 8  # no tensor-core bf16 path: fp32 (TF32 at best)
    if setup.shards_weights:
        mfu *= SHARDED_SLOWDOWN
    per_token = flops_per_token(spec, setup)
    tokens_per_step = setup.batch_size * setup.seq_len * grad_accum * gpus
    rate = tflops * 1e12 * mfu * gpus / per_token if tflops > 0 else 0.0
    compute = tokens_per_step / rate if rate else float("inf")
    sent = comm_bytes(setup, traffic, grad_accum) if traffic else 0.0
    comm = 0.0
    if traffic and sent:  # a ring runs at its slowest link: the network, once it spans machines
        link = min(traffic.link_gbs, INTER_NODE_GBS) if traffic.nodes > 1 else traffic.link_gbs
        comm = sent / (link * 1e9)
    host = host_seconds(setup, traffic, grad_accum) if traffic else 0.0
    step = max(compute, comm) + EXPOSED_COMM * min(compute, comm) + host
    throughput = tokens_per_step / step if step and step != float("inf") else 0.0
    return SpeedEstimate(per_token, tokens_per_step, step, throughput, mfu, sent, comm, host)
