"""Step time and throughput from FLOPs (Kaplan et al. / "Transformer Math 101"), calibrated against published
single-GPU throughput (benchmarks/speed: fit.py, RESULTS.md). Pure.

FLOPs per token: the forward pass is 2N (N: the weights a token passes through: the active experts of an MoE
model, and the LM head even when it is tied to the embedding, whose lookup costs nothing). The backward pass is
4N when every weight trains, 2N with a frozen base (LoRA, QLoRA: activation gradients only). Gradient
checkpointing recomputes the decoder layers' forward (2N less the head). Attention has no weights: its scores
and weighted sum cost 4 x layers x (heads x head_dim) x seq per token forward, halved by the causal mask, and
twice that backward whether or not the base is frozen; checkpointing recomputes the forward share.

Time per micro-batch = max(compute, launch) + dequantization:
- compute: FLOPs / (peak TFLOP/s x MFU), MFU rising with the hidden size (wider matmuls keep the tensor cores
  busier): MFU_MAX x h / (h + MFU_HALF_HIDDEN).
- launch: eager PyTorch launches its kernels from one CPU thread, about LAUNCH_SECONDS per decoder layer and
  pass (forward, backward counted twice, recompute); a small model on a short micro-batch waits for it, a large
  one hides it behind compute.
- dequantization (4-bit bases): every matmul first expands its weight to 16 bits, once per pass over the
  layer: DEQUANT_BYTES per quantized weight and micro-batch at the card's memory bandwidth.
- activation offloading (TRL's): the saved activations cross PCIe twice, mostly hidden behind compute.
Liger's RMSNorm / RoPE / SwiGLU kernels save memory; their speed effect under TRL's own fused LM head is not
measured, so none is counted.

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

# Fitted to the 37 Hugging Face-stack LoRA / Q-LoRA rows of benchmarks/speed/measurements.yaml (fit.py).
MFU_MAX = 0.80  # model FLOPs utilisation approached by very wide models (h=4096: 0.49, h=8192: 0.61)
MFU_HALF_HIDDEN = 2560  # the hidden size at which MFU is half of MFU_MAX
LAUNCH_SECONDS = 0.0013  # per decoder layer and pass: the CPU's kernel launches, eager PyTorch + PEFT
DEQUANT_BYTES = 75.0  # per 4-bit weight and micro-batch (fitted on GPTQ rows; bitsandbytes NF4 unmeasured)
UNKNOWN_BANDWIDTH_GBS_PER_TFLOP = 6.5  # a card without a catalog bandwidth: A100's ratio (2,039 GB/s / 312)
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
    head = spec.vocab_size * spec.hidden_size
    n = spec.params_active - spec.params_embedding + (head if spec.tied_embeddings else 0)
    passes = 6 if setup.adapter == "full" else 4
    total = passes * n
    attention = 4 * spec.layers * spec.heads * spec.head_dim * setup.seq_len * 0.5  # forward, causal
    total += 3 * attention  # forward + backward (twice the forward)
    if setup.gradient_checkpointing:
        total += 2 * (n - head) + attention  # the decoder layers' forward again, not the head
    return total


def mfu(spec: ModelSpec, setup: TrainSetup) -> float:
    """Model FLOPs utilisation of the compute-bound part of a step."""
    rate = MFU_MAX * spec.hidden_size / (spec.hidden_size + MFU_HALF_HIDDEN)
    if setup.attn_implementation == "eager":
        rate *= EAGER_SLOWDOWN
    if setup.dtype == "float32":
        rate /= 8  # no tensor-core bf16 path: fp32 (TF32 at best)
    if setup.shards_weights:
        rate *= SHARDED_SLOWDOWN
    return rate


def layer_passes(setup: TrainSetup) -> int:
    """Kernel-launch passes over each decoder layer: forward, backward (about twice the kernels), recompute."""
    return 3 + (1 if setup.gradient_checkpointing else 0)


def dequant_seconds(spec: ModelSpec, setup: TrainSetup, bandwidth_gbs: float) -> float:
    """A 4-bit base expands each weight to 16 bits for every matmul: per micro-batch, at memory bandwidth."""
    if setup.bits != 4 or bandwidth_gbs <= 0:
        return 0.0
    head = 0 if spec.tied_embeddings else spec.vocab_size * spec.hidden_size  # lm_head stays 16-bit
    quantized = spec.params_active - spec.params_embedding - head
    return quantized * DEQUANT_BYTES / (bandwidth_gbs * 1e9)


def estimate_speed(
    spec: ModelSpec,
    setup: TrainSetup,
    tflops: float,
    grad_accum: int = 1,
    gpus: int = 1,
    traffic: Traffic | None = None,
    bandwidth_gbs: float | None = None,
    offloaded_bytes: float = 0.0,
) -> SpeedEstimate:
    """One optimizer step: micro-batch x accumulation x GPUs sequences of `seq_len` tokens; with `traffic`, the
    strategy's communication and offload time too. `bandwidth_gbs`: the card's memory bandwidth (4-bit bases'
    dequantization); unknown: in proportion to its TFLOP/s. `offloaded_bytes`: activations TRL's activation
    offloading sends to host memory per micro-batch (down in the forward, back in the backward, over PCIe on a
    side stream: hidden behind compute except EXPOSED_COMM of it, and whatever outlasts the compute)."""
    rate_share = mfu(spec, setup)
    per_token = flops_per_token(spec, setup)
    micro_tokens = setup.sequences * setup.seq_len
    tokens_per_step = micro_tokens * grad_accum * gpus
    if tflops > 0:
        busy = micro_tokens * per_token / (tflops * 1e12 * rate_share)
        launch = spec.layers * layer_passes(setup) * LAUNCH_SECONDS
        bandwidth = bandwidth_gbs or tflops * UNKNOWN_BANDWIDTH_GBS_PER_TFLOP
        micro = max(busy, launch) + dequant_seconds(spec, setup, bandwidth)
        if offloaded_bytes:
            copies = 2 * offloaded_bytes / (PCIE_GBS * 1e9)
            micro += max(0.0, copies - micro) + EXPOSED_COMM * min(copies, micro)
        compute = micro * grad_accum
        # The utilisation the step achieves, all waits included: what the plan reports.
        rate_share = micro_tokens * per_token / (tflops * 1e12 * micro)
    else:
        compute = float("inf")
    sent = comm_bytes(setup, traffic, grad_accum) if traffic else 0.0
    comm = 0.0
    if traffic and sent:  # a ring runs at its slowest link: the network, once it spans machines
        link = min(traffic.link_gbs, INTER_NODE_GBS) if traffic.nodes > 1 else traffic.link_gbs
        comm = sent / (link * 1e9)
    host = host_seconds(setup, traffic, grad_accum) if traffic else 0.0
    step = max(compute, comm) + EXPOSED_COMM * min(compute, comm) + host
    throughput = tokens_per_step / step if step and step != float("inf") else 0.0
    return SpeedEstimate(per_token, tokens_per_step, step, throughput, rate_share, sent, comm, host)
