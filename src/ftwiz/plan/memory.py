"""Peak GPU memory of a training step, term by term, in the spirit of EleutherAI's "Transformer Math 101".

Pure: a ModelSpec, the inspection result and a TrainSetup in, bytes out; never imports torch. Every term
follows what the installed Hugging Face stack really does, not a textbook model:

- weights: bitsandbytes quantizes Linear layers only (not embeddings, lm_head, norms, nor MoE experts held
  as fused 3-D parameters); `prepare_model_for_kbit_training` then upcasts every remaining 16-bit parameter
  to fp32. NF4/FP4 store 0.5 byte per weight plus one absmax per 64-weight block: fp32 (4/64 byte), or with
  double quantization 8-bit absmax plus an fp32 constant per 256 blocks (1/64 + 4/16384 byte).
- trainable: LoRA A (r x in) and B (out x r) for each targeted module, fp32 as PEFT creates them; TRL casts
  them to bf16 on a quantized base (QLoRA). DoRA adds a magnitude vector of out_features per module.
- gradients and optimizer states: per trainable parameter, in the parameter's dtype (torch's AdamW keeps its
  two moments in the dtype of the parameter; 8-bit optimizers 1 byte per state).
- activations: the tensors autograd saves per decoder layer (derived below), all layers without gradient
  checkpointing; with it, each layer's input plus one layer recomputed in the backward pass.
- logits: what the loss path of the installed stack holds (`TrainSetup.loss`, read by hardware/stack.py).
  TRL 1.16's SFT, DPO and KTO trainers score the LM head in tiles (`add_fused_lm_head`): never the whole
  batch x seq x vocab logits, only a tile of them, the scored positions' hidden states and their fp32
  gradient (`fused_head_bytes`). Stacks that build the logits (`loss="full"`: plain Trainer, ORPO, label
  smoothing, the 2024-era published measurements) hold them in bf16, their fp32 upcast and the fp32
  log-softmax: dominant for 128k+ vocabularies once checkpointing is on.
- overhead: the CUDA context and the caching allocator's slack.

Every figure is per GPU. Several GPUs change the static terms, not activations or logits:
- DDP: a whole replica per GPU, and the reducer's buckets hold a second copy of the gradients (accelerate's
  default `gradient_as_bucket_view=False`).
- FSDP and ZeRO-3: weights, gradients and optimizer states divided by the world size, plus the unsharded
  parameters of the decoder layer being computed and of the one prefetched (two layers).
- ZeRO-2: gradients and optimizer states divided; the weights stay whole on every GPU.
- CPU offload: optimizer states (FSDP and ZeRO-3: also the sharded weights and gradients) live in host memory
  (`offloaded`, per process), and only the gathered layers stay on the GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ftwiz.models.spec import ModelSpec

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
NF4_BYTES = {False: 0.5 + 4 / 64, True: 0.5 + 1 / 64 + 4 / (64 * 256)}  # by double_quant
CUDA_CONTEXT = 512 * 1024**2  # the context and kernels (nvidia-smi shows it; torch's counters do not)
ALLOCATOR_SLACK = 0.05  # reserved beyond allocated by the caching allocator (fragmentation)
# CPU offload: the GPU holds ~1.7x the terms above. Layers are copied in and freed again for every pass, pinned
# staging buffers come and go, and the caching allocator keeps the blocks. Fitted on the two published offload
# runs (PEFT's FSDP guide, Llama-2-70B QLoRA on 2x24 GB: 19.6 GB per GPU; philschmid, Llama-3-70B QLoRA on
# 4x A10G: 22 GB per GPU; benchmarks/memory/), both 1.6-1.7x the sum of the terms.
OFFLOAD_SLACK = 1.7

# Optimizer state per trainable parameter: a multiple of the parameter's own bytes ("x"), or fixed bytes.
OPTIMIZER_STATE: dict[str, tuple[str, float]] = {
    "adamw_torch": ("x", 2),
    "adamw_torch_fused": ("x", 2),
    "schedule_free_adamw": ("x", 2),
    "paged_adamw_32bit": ("fixed", 8),
    "adamw_8bit": ("fixed", 2),
    "adamw_bnb_8bit": ("fixed", 2),
    "paged_adamw_8bit": ("fixed", 2),
    "adamw_torch_8bit": ("fixed", 2),
    "adamw_torch_4bit": ("fixed", 1),
    "ademamix": ("x", 3),
    "ademamix_8bit": ("fixed", 3),
    "lion_32bit": ("fixed", 4),
    "lion_8bit": ("fixed", 1),
    "paged_lion_8bit": ("fixed", 1),
    "adagrad": ("x", 1),
    "rmsprop": ("x", 1),
    "sgd": ("fixed", 0),
    "adafactor": ("fixed", 0.1),  # factored second moment: rows + columns, a few % of the parameters
}


@dataclass(frozen=True)
class TrainSetup:
    """The knobs that decide memory (from a RunConfig, or from `ftwiz plan` flags)."""

    adapter: Literal["full", "lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning", "freeze"] = "lora"
    rank: int = 16
    targets: tuple[str, ...] | None = None  # module names; None: all_linear
    quant_bits: Literal[None, 4, 8] = None
    double_quant: bool = True
    dtype: str = "bfloat16"
    batch_size: int = 1  # rows per micro-batch (train.per_device_train_batch_size)
    sequences_per_row: int = 1  # DPO, ORPO, KTO: chosen and rejected (KTO: completion and KL) run together
    seq_len: int = 2048
    gradient_checkpointing: bool = True
    optimizer: str = "adamw_torch"
    attn_implementation: str = "sdpa"
    lora_dropout: float = 0.05
    use_dora: bool = False
    strategy: Literal["single", "ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = "single"
    world_size: int = 1  # processes (GPUs) in all
    cpu_offload: bool = False
    num_virtual_tokens: int = 20  # prompt / prefix tuning
    trainable_layers: int = 2  # freeze-tuning
    loss: Literal["fused", "full"] = "fused"  # TRL's fused LM head (tiles), or the whole logits
    loss_kernel: Literal["triton", "torch"] = "triton"  # the fused head on CUDA (Triton), or its torch fallback
    loss_share: float = 1.0  # positions with a label (answers-only loss: fewer); Triton scores only those
    token_tile: int = 4096  # the fused head's tile: positions x vocabulary entries (hardware/stack.py)
    vocab_tile: int = 32768
    activation_offloading: bool = False  # TRL moves the tensors saved for backward to host memory
    liger: bool = False  # Liger's RMSNorm, RoPE and SwiGLU kernels (TRL keeps its own fused LM head)
    device: Literal["cuda", "cpu"] = "cuda"  # where the step runs: torch's AdamW takes another code path on the CPU

    @property
    def sequences(self) -> int:
        """Sequences per micro-batch through the model: what activations, logits and FLOPs scale with."""
        return self.batch_size * self.sequences_per_row

    @property
    def bits(self) -> int | None:
        return 4 if self.adapter == "qlora" else self.quant_bits

    @property
    def shards_weights(self) -> bool:
        return self.strategy in ("fsdp", "deepspeed-zero3") and self.world_size > 1


@dataclass(frozen=True)
class MemoryBreakdown:
    weights: int
    trainable: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    overhead: int
    trainable_params: int
    optimizer_step: int = 0  # the optimizer step's temporaries beyond the backward pass's peak
    offloaded: int = 0  # host memory per process (CPU offload, activation offloading); not in the GPU total
    context: int = 0  # of the overhead: the CUDA context (no torch counter sees it)
    slack: int = 0  # of the overhead: the caching allocator's reserve beyond allocated

    @property
    def total(self) -> int:
        return (
            self.weights
            + self.trainable
            + self.gradients
            + self.optimizer
            + self.optimizer_step
            + self.activations
            + self.logits
            + (self.overhead)
        )

    @property
    def allocated(self) -> int:
        """What torch.cuda.max_memory_allocated (or a count of live tensors) would show: no context, no slack."""
        return self.total - self.context - self.slack

    def to_dict(self) -> dict[str, int]:
        data = asdict(self)
        for key in ("trainable_params", "offloaded", "context", "slack", "optimizer_step"):
            data.pop(key)
        # In the order of the bar: the step's temporaries sit beside the states they come from.
        return {
            **{k: data[k] for k in ("weights", "trainable", "gradients", "optimizer")},
            "optimizer_step": self.optimizer_step,
            **{k: data[k] for k in ("activations", "logits", "overhead")},
        }


def targets_for(inspection: Mapping[str, Any], targets: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Module names for a target set (`attention_qv`, `attention`, `all_linear`, PEFT's `all-linear`) or a list."""
    if not isinstance(targets, str):
        return tuple(targets)
    sets = inspection["targets"]
    return tuple(sets.get(targets.replace("-", "_"), sets["all_linear"]))


def _targeted_groups(inspection: Mapping[str, Any], targets: tuple[str, ...] | None) -> list[Mapping[str, Any]]:
    names = targets if targets is not None else tuple(inspection["targets"]["all_linear"])
    suffixes = {t.rsplit(".", 1)[-1] for t in names}
    qualified_attention = any("." in t for t in names)
    groups = []
    for g in inspection["linear_groups"]:
        if g["name"] not in suffixes or g["kind"] == "lm_head":
            continue
        # `attn.c_proj` (GPT-2) means the attention output, not the MLP's c_proj.
        if qualified_attention and g["name"] not in names and not g["kind"].startswith("attention"):
            continue
        groups.append(g)
    return groups


def lora_params(inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    """LoRA A and B (plus DoRA magnitudes) for every targeted module."""
    total = 0
    for g in _targeted_groups(inspection, setup.targets):
        per_module = setup.rank * (g["in_features"] + g["out_features"])
        if setup.use_dora:
            per_module += g["out_features"]
        total += per_module * g["count"]
    return total


def adapter_params(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    """Trainable parameters of every adapter type PEFT offers here, and of freeze-tuning."""
    if setup.adapter in ("lora", "qlora"):
        return lora_params(inspection, setup)
    if setup.adapter == "ia3":  # one scale per output feature (per input feature for feed-forward outputs)
        return sum(
            (g["in_features"] if g["kind"].startswith("mlp_down") else g["out_features"]) * g["count"]
            for g in _targeted_groups(inspection, setup.targets)
        )
    if setup.adapter == "prompt_tuning":
        return setup.num_virtual_tokens * spec.hidden_size
    if setup.adapter == "prefix_tuning":  # a key and a value per virtual token in every layer
        return setup.num_virtual_tokens * spec.layers * 2 * spec.kv_heads * spec.head_dim
    if setup.adapter == "freeze":
        total = int(inspection.get("params_total") or spec.params_total)
        head = sum(g["params"] for g in inspection["linear_groups"] if g["kind"] == "lm_head")
        per_layer = (total - int(inspection.get("params_embedding") or 0) - head) / spec.layers
        return int(per_layer * min(setup.trainable_layers, spec.layers))
    return int(inspection.get("params_total") or spec.params_total)  # full


def weight_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    total = int(inspection.get("params_total") or spec.params_total)
    if setup.bits is None:
        return total * DTYPE_BYTES[setup.dtype]
    quantized = sum(g["params"] for g in inspection["linear_groups"] if g["kind"] != "lm_head")
    per_weight = NF4_BYTES[setup.double_quant] if setup.bits == 4 else 1.0
    rest = total - quantized
    return int(quantized * per_weight) + rest * 4  # prepare_model_for_kbit_training: the rest in fp32


def activation_bytes_per_token_layer(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> float:
    """What autograd keeps for one token in one decoder layer (gated-MLP layout; plain MLPs have one matrix
    less). Norms compute in fp32: input (4h) + normalised output (2h), two norms a layer. Attention: q, k, v,
    its output and o_proj's input. MLP: its input, gate and up outputs, the activation and the product."""
    b = 4 if setup.dtype == "float32" else 2
    h, inter = spec.hidden_size, spec.moe_intermediate_size if spec.is_moe else spec.intermediate_size
    kv = spec.kv_heads * spec.head_dim
    q = spec.heads * spec.head_dim
    # Liger's RMSNorm keeps its input and one fp32 scale a row; its SwiGLU recomputes the activation.
    norms = 2 * (b * h + 4) if setup.liger else 2 * (4 * h + 2 * h)
    attention = b * (h + q + 2 * kv + q + q)  # input of q/k/v, q, k, v, attention output, o_proj input
    gated = spec.is_moe or any(g["kind"] in ("mlp_gate", "mlp_gate_up") for g in inspection["linear_groups"])
    experts = spec.experts_per_token if spec.is_moe else 1
    mlp = b * (h + experts * inter * ((3 if setup.liger else 4) if gated else 2))
    per_token = norms + attention + mlp
    if setup.adapter in ("lora", "qlora") and setup.lora_dropout > 0:
        # Each LoRA layer keeps its own dropped-out copy of the input (in the adapter's dtype: bf16 on a quantized
        # base), and the mask.
        a = 2 if setup.bits is not None else b
        per_token += sum(
            (a + 1) * g["in_features"] * g["count"] for g in _targeted_groups(inspection, setup.targets)
        ) / (spec.layers)
    return per_token


def activation_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    """Activations on the GPU at the peak (with TRL's activation offloading: the layers in flight)."""
    whole = _activations(spec, inspection, setup)
    if not setup.activation_offloading:
        return whole
    return whole - offloaded_activation_bytes(spec, inspection, setup)


def offloaded_activation_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    """TRL's activation offloading moves what each layer saves for the backward pass to host memory as the
    forward goes on, and brings it back a layer ahead in the backward: the GPU keeps about two layers' worth."""
    if not setup.activation_offloading:
        return 0
    whole = _activations(spec, inspection, setup)
    kept = whole * min(2, spec.layers) // max(1, spec.layers)
    return whole - kept


def layer_activation_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    """What one decoder layer keeps for the whole micro-batch (what checkpointing recomputes one layer at a time)."""
    virtual = setup.num_virtual_tokens if setup.adapter == "prompt_tuning" else 0  # prepended to every row
    tokens = setup.sequences * (setup.seq_len + virtual)
    per_layer = activation_bytes_per_token_layer(spec, inspection, setup) * tokens
    if setup.attn_implementation == "eager":
        # Eager attention materialises the scores and their softmax: batch x heads x seq x seq each.
        b = 4 if setup.dtype == "float32" else 2
        per_layer += 2 * b * setup.sequences * spec.heads * setup.seq_len**2
    return int(per_layer)


def _activations(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> int:
    virtual = setup.num_virtual_tokens if setup.adapter == "prompt_tuning" else 0  # prepended to every row
    tokens = setup.sequences * (setup.seq_len + virtual)
    # Freeze-tuning: nothing before the first trained layer needs a gradient, so only those layers keep activations.
    layers = min(setup.trainable_layers, spec.layers) if setup.adapter == "freeze" else spec.layers
    per_layer = layer_activation_bytes(spec, inspection, setup)
    if setup.gradient_checkpointing:
        b = 4 if setup.dtype == "float32" else 2
        kept = layers * tokens * spec.hidden_size * b  # each layer's input
        return int(kept + per_layer)  # plus one layer recomputed during the backward pass
    return int(layers * per_layer)


def logit_bytes(spec: ModelSpec, setup: TrainSetup) -> int:
    """The loss's share of the peak: TRL's fused head (`fused_head_bytes`), or the whole logits in the compute
    dtype, their fp32 upcast for the loss and the fp32 log-softmax kept for the backward pass."""
    if setup.loss == "fused":
        return fused_head_bytes(spec, setup)
    b = 4 if setup.dtype == "float32" else 2
    return setup.sequences * setup.seq_len * spec.vocab_size * (b + 4 + 4)


def fused_head_bytes(spec: ModelSpec, setup: TrainSetup) -> int:
    """TRL's fused LM head (trl/kernels/chunked_logprob.py, `ChunkedLogProbFunction`), at its backward pass,
    where it holds the most: the scored positions' hidden states (gathered or reshaped: a copy), their fp32
    gradient, per-position fp32 statistics, and one tile of token_tile positions x vocab_tile logits.

    - Triton (CUDA): only positions with a label are scored, and the kernel turns the tile into its gradient in
      place: one tile in the compute dtype.
    - torch fallback (CPU, no Triton): every position is scored and `_backward_tile` works on whole tiles: the
      tile, then y, z, log p, p, the gradient and the one-hot difference (and its product) in fp32, and a bool
      mask: the tile plus 7 fp32 tiles plus 1 byte per logit.
    - the head trains (full fine-tuning): its gradient is accumulated in a separate fp32 buffer when the weights
      are 16-bit (in fp32 the buffer is the gradient itself, counted with the others)."""
    b = 4 if setup.dtype == "float32" else 2
    positions = setup.sequences * max(setup.seq_len - 1, 1)  # next-token labels: one fewer than tokens
    h, v = spec.hidden_size, spec.vocab_size
    if setup.loss_kernel == "triton":
        scored, per_logit = max(1, int(positions * min(max(setup.loss_share, 0.0), 1.0) + 0.5)), b
    else:
        scored, per_logit = positions, b + 7 * 4 + 1
    rows = min(scored, setup.token_tile)
    # The tile buffer is allocated vocab_tile wide even for a narrower vocabulary; the work tiles are as wide as
    # the vocabulary's slice.
    tile = rows * setup.vocab_tile * b + rows * min(v, setup.vocab_tile) * (per_logit - b)
    states = scored * h * (b + 4) + scored * 4 * 8  # the hidden states, their fp32 gradient, 8 fp32 statistics
    head_gradient = v * h * 4 if setup.adapter == "full" and b != 4 else 0
    return tile + states + head_gradient


def optimizer_bytes(n_params: int, param_bytes: int, optimizer: str) -> int:
    mode, factor = OPTIMIZER_STATE.get(optimizer, ("x", 2))
    return int(n_params * (param_bytes * factor if mode == "x" else factor))


@dataclass(frozen=True)
class StaticBytes:
    """Whole-model sizes before any sharding: what a replica holds, and what several GPUs exchange."""

    weights: int  # the base as stored (4-bit packing on a quantized base)
    trainable: int  # adapter parameters (0 when the weights themselves train)
    gradients: int
    optimizer: int
    trainable_params: int


def static_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> StaticBytes:
    n_train = adapter_params(spec, inspection, setup)
    if setup.adapter in ("full", "freeze"):
        param_bytes = DTYPE_BYTES[setup.dtype]
        trainable = 0  # the weights themselves train: counted in weights
    else:
        # TRL's SFTTrainer casts the adapter to bf16 on any quantized base (the QLoRA paper's recipe), also on a CPU.
        param_bytes = 2 if setup.bits is not None else 4
        trainable = n_train * param_bytes
    return StaticBytes(
        weight_bytes(spec, inspection, setup),
        trainable,
        n_train * param_bytes,
        optimizer_bytes(n_train, param_bytes, setup.optimizer),
        n_train,
    )


# torch optimizers whose step makes whole-tensor temporaries (torch/optim/adam.py); `adamw_torch_fused`, the
# bitsandbytes optimizers and Adafactor update inside their kernels or per row.
FOREACH_OPTIMIZERS = ("adamw_torch",)


def optimizer_step_bytes(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup, n_train: int) -> int:
    """Temporaries torch's AdamW allocates in its step, when every gradient and state is alive and the
    activations are gone (torch/optim/adam.py):

    - CUDA (`_multi_tensor_adam`, the foreach default): `torch._foreach_sqrt(exp_avg_sqs)` copies the second
      moment of every trained parameter at once: one more copy of them, in the parameter's dtype.
    - CPU (`_single_tensor_adam`): `(exp_avg_sq.sqrt() / bias_correction2_sqrt)` makes two copies of one
      parameter at a time: twice the largest trained tensor (a big vocabulary's embedding in full fine-tuning).

    Measured on the CPU (benchmarks/gpu/run.sh --smoke: Qwen2.5's 152k x 256 embedding, full fine-tuning): the
    step's two copies were the run's peak, 232 MiB above the backward pass's."""
    if setup.optimizer not in FOREACH_OPTIMIZERS or setup.cpu_offload or setup.strategy.startswith("deepspeed"):
        return 0  # DeepSpeed brings its own fused Adam; offloaded states step on the host
    whole = setup.adapter in ("full", "freeze")
    param_bytes = DTYPE_BYTES[setup.dtype] if whole else (2 if setup.bits is not None else 4)
    if setup.device == "cuda":
        shards = setup.world_size if setup.shards_weights else 1
        return n_train * param_bytes // max(1, shards)
    if whole:
        matrices = [g["in_features"] * g["out_features"] for g in inspection["linear_groups"]]
        largest = max([spec.vocab_size * spec.hidden_size, *matrices])
    else:  # an adapter's largest matrix: r x the widest targeted dimension
        widest = max((max(g["in_features"], g["out_features"]) for g in inspection["linear_groups"]), default=0)
        largest = setup.rank * widest
    return 2 * min(largest, n_train) * param_bytes


def estimate_memory(spec: ModelSpec, inspection: Mapping[str, Any], setup: TrainSetup) -> MemoryBreakdown:
    """Peak bytes per GPU for one training step of `setup`."""
    whole = static_bytes(spec, inspection, setup)
    weights, trainable, gradients, optimizer = whole.weights, whole.trainable, whole.gradients, whole.optimizer
    n_train = whole.trainable_params
    gathered = 0  # sharded engines: the layer being computed and the one prefetched, whole
    n = max(1, setup.world_size)
    if setup.shards_weights:
        gathered = 2 * (weights + trainable) // max(1, spec.layers)
        weights, trainable, gradients, optimizer = (x // n for x in (weights, trainable, gradients, optimizer))
    elif setup.strategy == "deepspeed-zero2" and n > 1:
        gradients, optimizer = gradients // n, optimizer // n
    elif setup.strategy == "ddp" and n > 1:
        gradients *= 2  # the reducer's buckets: a second copy of the gradients
    offloaded = 0
    if setup.cpu_offload and setup.strategy != "ddp":
        offloaded, optimizer = optimizer, 0
        if setup.shards_weights:
            offloaded += weights + trainable + gradients
            weights = trainable = gradients = 0
    activations = activation_bytes(spec, inspection, setup)
    logits = logit_bytes(spec, setup)
    if setup.gradient_checkpointing and setup.loss == "fused":
        # The fused head's backward finishes, and frees its tiles, before the first layer is recomputed: of the
        # two, only the larger is ever alive, so the activations term counts the recomputed layer beyond it
        # (measured: benchmarks/memory/measure_cpu.py). The published full-logits stacks do not show it: older
        # transformers kept the fp32 logits alive through the backward pass, so there both count.
        activations -= min(layer_activation_bytes(spec, inspection, setup), logits)
    # The step comes after the backward pass has freed the activations and the loss's tiles: its temporaries
    # count only where they outgrow those.
    optimizer_step = max(0, optimizer_step_bytes(spec, inspection, setup, n_train) - activations - logits)
    working = weights + trainable + gradients + optimizer + optimizer_step + activations + logits + gathered
    slack = int(ALLOCATOR_SLACK * working)
    if offloaded:
        slack += int((OFFLOAD_SLACK - 1) * (working + slack))
    overhead = CUDA_CONTEXT + gathered + slack
    offloaded += offloaded_activation_bytes(spec, inspection, setup)  # pinned host memory, not CUDA's
    if setup.bits is not None:
        # bitsandbytes dequantizes one weight matrix at a time for the matmul: the largest one, in bf16.
        overhead += max(
            (g["in_features"] * g["out_features"] * 2 for g in inspection["linear_groups"] if g["kind"] != "lm_head"),
            default=0,
        )
    return MemoryBreakdown(
        weights,
        trainable,
        gradients,
        optimizer,
        activations,
        logits,
        overhead,
        n_train,
        optimizer_step,
        offloaded,
        CUDA_CONTEXT,
        slack,
    )
