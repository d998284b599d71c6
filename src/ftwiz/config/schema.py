"""RunConfig: the single description of a run (CONTRACTS.md, "Config keys").

The wizard edits it screen by screen, a preset is a partial one in YAML, `--set key.path=value` overrides a
field, and the worker reads the frozen copy in `runs/<id>/config.yaml`. Names follow PEFT / TRL /
TrainingArguments; `ftwiz.train.build` maps them onto whatever the installed versions call them.

Pure: pydantic only, no torch.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ftwiz.config.values import (
    ATTENTION_IMPLEMENTATIONS,
    HUB_KERNEL,
    RUN_NAME,
    TARGET_SET_ALIASES,
    TARGET_SETS,
    Dtype,
    NonNegativeFloat,
    OptimizerName,
    PositiveFloat,
    PositiveInt,
    SchedulerName,
    deadline_at,
)


class Section(BaseModel):
    """Base of every section: unknown keys are errors, assignments are validated (the wizard assigns)."""

    # use_attribute_docstrings: the string under each field becomes its `description` (the wizard's help, --help).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class ModelConfig(Section):
    """The base model to fine-tune and how transformers loads it (`AutoModelForCausalLM.from_pretrained`)."""

    id: str = Field(min_length=1)
    """A hub id (`microsoft/phi-2`), a local folder, or a bundled model (`ftwiz:tiny-demo/model`)."""
    dtype: Dtype = "auto"
    """Weights and compute dtype (`from_pretrained(dtype=)`, and the Trainer's bf16/fp16 flags for an unquantized
    base); `auto` = bf16 where the GPU supports it, else fp16 on GPU, fp32 on CPU."""
    trust_remote_code: bool = False
    """Run Python code shipped with the model (transformers' `trust_remote_code`, for the model and its
    tokenizer). Off unless you trust the repository."""
    attn_implementation: str | None = None
    """The attention kernel (`from_pretrained(attn_implementation=)`): eager, sdpa, flash_attention_2,
    flash_attention_3, flex_attention, or a Hub kernel repository such as `kernels-community/flash-attn2`
    (`owner/name[@revision][:function]`, loaded through the `kernels` package: a prebuilt FlashAttention, fetched
    from the Hub once and cached; offline it must already be in the cache). None lets transformers choose (SDPA
    where available). flash_attention_2/3 need the flash-attn package, or `kernels`, which transformers falls back
    to. Memory: eager materialises the seq x seq scores; the others do not."""

    @field_validator("attn_implementation")
    @classmethod
    def _known_attention(cls, value: str | None) -> str | None:
        if value is None or value in ATTENTION_IMPLEMENTATIONS or HUB_KERNEL.match(value):
            return value
        raise ValueError(
            f"{value!r} is neither one of {', '.join(ATTENTION_IMPLEMENTATIONS)} nor a Hub kernel "
            "(owner/name, e.g. kernels-community/flash-attn2)"
        )

    @model_validator(mode="after")
    def _kernel_code_is_trusted(self) -> ModelConfig:
        # A Hub kernel is compiled code that runs; transformers loads those of kernels-community (maintained by
        # Hugging Face) and, like remote model code, anyone else's only when asked to.
        kernel = self.attn_implementation
        foreign = kernel and HUB_KERNEL.match(kernel) and not kernel.startswith("kernels-community/")
        if foreign and not self.trust_remote_code:
            raise ValueError(
                f"attn_implementation {kernel!r} is a Hub kernel outside kernels-community: its code would run "
                "here. Use kernels-community/flash-attn2, or set model.trust_remote_code=true if you trust it"
            )
        return self


class DataConfig(Section):
    """The training rows: where they are, how they are read, and how they become sequences."""

    path: str = Field(min_length=1)
    """A local file (.jsonl, .json, .csv, .tsv, .parquet, .txt, .md), a folder or glob, a hub dataset id, or a
    bundled dataset (`ftwiz:...`)."""
    format: Literal[
        "auto", "messages", "sharegpt", "alpaca", "prompt_completion", "text", "preference", "unpaired_preference"
    ] = "auto"
    """`auto` detects it from the keys; see `ftwiz data check`."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Rename columns to the canonical names, e.g. {conversation: messages}."""
    subset: str | None = None
    """A hub dataset's subset (its config name, `datasets.load_dataset(path, name=subset)`)."""
    split: str = "train"
    """Which split to read (`datasets.load_dataset(path, split=split)`): used for hub datasets, `datasets` folders
    (save_to_disk output, or a repository whose README declares configs) and whenever `subset` is given; plain
    local files ignore it."""
    val_size: Annotated[float, Field(ge=0)] = 0.05
    """Held-out share for eval: a fraction < 1, or a number of rows >= 1 (0 = no eval)."""
    max_length: PositiveInt = 1024
    """Tokens per training sequence; longer rows are truncated (and counted). At most the model's context
    (max_position_embeddings): the launch refuses more, and more than 1% of rows losing their whole answer."""
    packing: bool = False
    """Pack rows into max_length sequences without padding (TRL's best-fit decreasing packing is padding-free:
    position ids keep the rows apart, and the answers-only masks are kept). Method cpt always packs, with TRL's
    'wrapped' strategy: documents are joined and cut into max_length blocks, so long ones train whole."""
    max_row_bytes: PositiveInt = 1_000_000
    """A row over this many bytes of text is refused: it is that row's problem (file:line, its size), found by the
    check before a run starts instead of the worker running out of memory on it. Raise it for long documents."""
    on_error: Literal["stop", "skip"] = "stop"
    """What a bad row does (the checks of `ftwiz data check`). stop: the run stops before a model is loaded (exit
    2, the problems listed by line). skip: bad rows are dropped, and how many is logged with the first problem."""
    chat_template: Literal["chatml", "llama-3", "mistral-instruct", "alpaca", "phi"] | None = None
    """A named template instead of the tokenizer's own (used anyway, as ChatML, when it has none)."""
    train_on: Literal["assistant", "all"] = "assistant"
    """`assistant`: loss only on the model's answers, the prompt masked (for chats, ftwiz's masks from
    ftwiz.data.masking: the assistant turns, never tool results; `completion_only_loss` for prompt/completion
    rows). `all`: every token. Read by method sft only: cpt trains on every token, and the preference methods
    leave the prompt to TRL's trainers."""

    @field_validator("val_size")
    @classmethod
    def _whole_rows(cls, v: float) -> float:
        if v >= 1 and v != int(v):
            raise ValueError(f"expected a fraction < 1 or a whole number of rows, got {v}")
        return v


PREFERENCE_METHODS = ("dpo", "orpo", "kto")
"""Methods that train on preference pairs; each micro-batch runs two sequences a row (chosen and rejected; KTO:
the completion and a mismatched one for its KL term)."""


class AdapterConfig(Section):
    """What trains: the whole model, a PEFT adapter (LoRA, QLoRA, IA3, prompt/prefix tuning) or the last layers."""

    type: Literal["full", "lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning", "freeze"] = "lora"
    """full: every weight trains. lora: low-rank adapters on a frozen base. qlora: lora on a 4-bit NF4 base.
    ia3: learned scaling vectors (tiny). prompt_tuning / prefix_tuning: learned virtual tokens. freeze: the last
    `trainable_layers` decoder layers train, the rest is frozen (no adapter)."""
    r: PositiveInt = 16
    """LoRA rank (PEFT's `LoraConfig.r`): the adapters' inner width. Each targeted layer adds r x (in + out)
    trainable parameters; 16 is the common default. lora/qlora only."""
    lora_alpha: PositiveFloat = 32
    """LoRA scaling (`LoraConfig.lora_alpha`): the update is scaled by lora_alpha / r (lora_alpha / sqrt(r) with
    use_rslora); the default 32 at r 16 scales it by 2. lora/qlora only."""
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    """Dropout probability on the adapters' input during training (`LoraConfig.lora_dropout`), in [0, 1); 0 turns
    it off and saves a copy of each targeted layer's input activations. lora/qlora only."""
    target_modules: str | list[str] = "all_linear"
    """Which linear layers get adapters (lora, qlora, ia3): a set (attention_qv, attention, all_linear; `all-linear`
    is accepted) resolved to this model's module names, or an explicit list of module names. PEFT gets the
    resolved names as `target_modules`."""
    bias: Literal["none", "all", "lora_only"] = "none"
    """Which biases train along with LoRA (`LoraConfig.bias`): none; all (every bias of the model); lora_only (those
    of the targeted layers). With biases trained, disabling the adapter no longer gives the original base, which
    DPO and KTO use as their reference. lora/qlora only."""
    use_dora: bool = False
    """DoRA (`LoraConfig.use_dora`): a learned magnitude per output feature on top of LoRA's direction; can help at
    low ranks, at the cost of slower steps. lora/qlora only."""
    use_rslora: bool = False
    """Rank-stabilized LoRA (`LoraConfig.use_rslora`): scale by lora_alpha / sqrt(r) instead of lora_alpha / r,
    which keeps high ranks effective. lora/qlora only."""
    init_lora_weights: Literal["default", "gaussian", "pissa", "olora"] = "default"
    """How LoRA starts (`LoraConfig.init_lora_weights`). default (True there): A random, B = 0, so training starts
    from the base. gaussian: A from a normal distribution (std 1/r), B = 0. pissa / olora: the adapter starts from
    the weights' own decomposition (PiSSA: SVD, principal directions; OLoRA: QR), and the base keeps the rest
    (faster convergence); the saved adapter is converted so it loads on the original base. lora/qlora only."""
    loraplus_lr_ratio: PositiveFloat | None = None
    """LoRA+: B learns this many times faster than A (16 is the paper's default); None = plain LoRA. It builds
    PEFT's LoRA+ optimizer (torch AdamW, `loraplus_lr_ratio`), so train.optim is not used. lora/qlora only."""
    num_virtual_tokens: PositiveInt = 20
    """prompt_tuning / prefix_tuning: how many virtual tokens are learned."""
    trainable_layers: PositiveInt = 2
    """freeze: how many of the last decoder layers train (with the final norm)."""

    @property
    def whole_model(self) -> bool:
        """Whether the run saves the whole model (full, freeze) rather than a PEFT adapter."""
        return self.type in ("full", "freeze")

    @field_validator("target_modules")
    @classmethod
    def _known_set(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str):
            v = TARGET_SET_ALIASES.get(v, v)
            if v not in TARGET_SETS:
                raise ValueError(f"expected one of {', '.join(TARGET_SETS)} or a list of module names, got {v!r}")
        elif not v or not all(isinstance(n, str) and n for n in v):
            raise ValueError("expected a non-empty list of module names")
        return v


class QuantConfig(Section):
    """Loading the frozen base quantized with bitsandbytes (transformers' `BitsAndBytesConfig`)."""

    bits: Literal["none", 8, 4] = "none"
    """Base weights in 4 bits (`load_in_4bit`) or 8 bits (`load_in_8bit`, LLM.int8); none = unquantized (YAML null
    reads as none). adapter.type qlora sets 4 by itself; full and freeze cannot train quantized weights."""
    type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type (`bnb_4bit_quant_type`): nf4 (NormalFloat4, QLoRA's, made for normally distributed
    weights) or fp4 (a plain 4-bit float). 4-bit only."""
    double_quant: bool = True
    """Quantize the quantization constants too (`bnb_4bit_use_double_quant`): about 0.37 bits less per weight
    (QLoRA's double quantization). 4-bit only."""
    compute_dtype: Dtype = "auto"
    """The dtype 4-bit layers compute in (`bnb_4bit_compute_dtype`); for any quantized run (4 or 8 bits) it also
    picks the Trainer's bf16/fp16 instead of model.dtype. `auto` = bf16 where the GPU supports it, else fp16 on
    GPU, fp32 on CPU."""

    @field_validator("bits", mode="before")
    @classmethod
    def _bits_from_text(cls, v: Any) -> Any:
        # YAML `bits: none` and `--set quant.bits=4` arrive as strings or None.
        if v is None:
            return "none"
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v


class TrainConfig(Section):
    """The training loop: length, batch, optimizer and schedule, evaluation, checkpoints, and when to stop
    (TrainingArguments' names)."""

    num_train_epochs: PositiveFloat = 1.0
    """Passes over the training rows (TrainingArguments' `num_train_epochs`); a fraction trains that share of the
    last pass (0.5 = half the rows once). max_steps, when set, wins."""
    max_steps: Annotated[int, Field(ge=-1)] = -1
    """Optimizer steps; -1 = run for num_train_epochs."""
    per_device_train_batch_size: PositiveInt = 4
    """Micro-batch: sequences each process runs per forward pass, and the eval batch too
    (`per_device_eval_batch_size`). The biggest memory knob after the model; dpo/orpo/kto run two sequences a
    row."""
    gradient_accumulation_steps: PositiveInt = 1
    """Micro-batches whose gradients add up before each optimizer step: sequences per step = micro-batch x this x
    processes, with no extra memory. Every *_steps counts optimizer steps."""
    learning_rate: PositiveFloat = 2e-4
    """Peak learning rate, reached after warmup; the scheduler moves it from there. 2e-4 is typical for LoRA,
    1e-5 to 2e-5 for full fine-tuning. With LoRA+ it is A's rate (B's is loraplus_lr_ratio times it)."""
    lr_scheduler_type: SchedulerName = "cosine"
    """How the learning rate moves after warmup (transformers' SchedulerType): cosine decays to 0 over the run,
    linear falls to 0, constant_with_warmup holds (constant skips the warmup too). reduce_lr_on_plateau needs
    evaluations (eval_steps, data.val_size > 0). cosine_with_min_lr, cosine_warmup_with_min_lr and
    warmup_stable_decay need scheduler arguments (`lr_scheduler_kwargs`) that ftwiz does not pass yet: with them
    the trainer fails to start."""
    warmup_steps: NonNegativeFloat = 0.03
    """Whole steps, or a fraction < 1 of all steps (transformers 5 folded `warmup_ratio` into this)."""
    weight_decay: NonNegativeFloat = 0.0
    """Decoupled weight decay (AdamW-style) applied by the optimizer; biases and norm weights are exempt. 0 = none;
    0.01 is a common light setting."""
    optim: OptimizerName = "adamw_torch"
    """The optimizer (TrainingArguments' `optim`). The 8-bit, paged, lion and ademamix ones come from bitsandbytes
    (8-bit: smaller optimizer states; paged: states spill to CPU memory on spikes), adamw_torch_4bit/8bit need
    torchao, schedule_free_adamw needs schedulefree. Not used with LoRA+ (adapter.loraplus_lr_ratio)."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: ~30% slower steps for far less activation memory
    (`activation_checkpointing` in transformers 5; under FSDP, accelerate's `fsdp_activation_checkpointing`)."""
    seed: int = 42
    """Seeds the Trainer (`seed`: Python, NumPy and torch, so dropout; `data_seed`: the row order) and the
    held-out split (data.val_size)."""
    logging_steps: PositiveInt = 10
    """A `train` line in metrics.jsonl (loss, learning rate, grad norm, tokens/s: what the monitor plots) every N
    optimizer steps, plus the first step (TrainingArguments' `logging_steps`)."""
    eval_steps: PositiveInt | None = None
    """Evaluate every N steps (`eval_strategy="steps"`); None = no evaluations in between. With held-out rows
    (data.val_size > 0) evaluation also runs before the first step and after the last."""
    save_steps: PositiveInt | None = 200
    """Checkpoint every N steps (for resume); None = only the final adapter (and a checkpoint on a graceful stop).
    With early stopping, checkpoints follow eval_steps instead."""
    save_total_limit: PositiveInt | None = 2
    """Keep at most this many checkpoints in the run's checkpoints/, deleting the oldest (early stopping keeps the
    best one too); None = keep them all. The disk checks (`ftwiz doctor --config`, the worker) count them."""
    report_to: Literal["none", "tensorboard", "wandb"] = "none"
    """Also log to TensorBoard (event files under the run's checkpoints/runs/, or $TENSORBOARD_LOGGING_DIR; needs
    the tensorboard package) or Weights & Biases (needs wandb and a login). none = only the run folder's
    metrics.jsonl, which ftwiz always writes."""
    deadline: str | float | None = None
    """Stop gracefully (checkpoint + adapter, state `stopped`, exit 3) before the box expires: a duration from
    the start ('2h', '90m'), a clock time ('18:30') or a date-time ('2026-11-24T06:00+00:00'); a bare number is
    seconds. None = no deadline."""
    price_per_hour: NonNegativeFloat | None = None
    """What the whole GPU box costs you per hour (all its GPUs), for the monitor's cost so far."""
    early_stopping_patience: PositiveInt | None = None
    """Stop when the eval loss has not improved for this many evaluations (transformers' EarlyStoppingCallback;
    needs eval_steps); the best checkpoint is the one saved."""
    beta: PositiveFloat = 0.1
    """dpo / orpo / kto: each trainer's own `beta` in TRL. DPO and KTO: how far the policy may move from the
    reference (higher = closer to the base). ORPO: the weight of the odds-ratio term (the paper's lambda)."""
    allow_qlora_fallback: bool = False
    """On a CUDA out-of-memory error in the first steps, may the worker switch LoRA to QLoRA (after a smaller
    micro-batch and gradient checkpointing)? Off: quantizing changes what you train, so you opt in."""
    activation_offloading: bool = False
    """TRL's `activation_offloading` (sft and cpt): the tensors saved for the backward pass wait in host memory
    (pinned, copied on a side stream), so the GPU holds about two layers' activations instead of all of them;
    steps get a little slower. CUDA only; nothing to install. The plan counts it."""
    use_liger_kernel: bool = False
    """Liger's Triton kernels for RMSNorm, RoPE and SwiGLU (TrainingArguments' `use_liger_kernel`; TRL keeps its
    own fused LM head): less activation memory and faster steps. Needs `pip install liger-kernel` (pure Python,
    no build) and a CUDA GPU. The plan counts it."""

    @field_validator("max_steps")
    @classmethod
    def _not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("expected a positive number of steps, or -1 to train for num_train_epochs")
        return v

    @field_validator("warmup_steps")
    @classmethod
    def _whole_steps(cls, v: float) -> float:
        if v >= 1 and v != int(v):
            raise ValueError(f"expected a fraction < 1 or a whole number of steps, got {v}")
        return v

    @model_validator(mode="after")
    def _patience_needs_evals(self) -> TrainConfig:
        if self.early_stopping_patience is not None and self.eval_steps is None:
            raise ValueError(
                "train.early_stopping_patience: early stopping compares evaluations; set train.eval_steps too"
            )
        return self

    @field_validator("deadline")
    @classmethod
    def _duration(cls, v: str | float | None) -> str | float | None:
        if v is not None:
            now = datetime.now(timezone.utc)
            if deadline_at(v, now) <= now:
                raise ValueError(f"expected a positive duration ('2h', '90m') or a time ahead, got {v!r}")
        return v

    def effective_batch_size(self, world_size: int = 1) -> int:
        """Sequences per optimizer step: micro-batch x accumulation x processes."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * world_size


class HardwareConfig(Section):
    """Which of this machine's GPUs the run may use."""

    gpus: list[Annotated[int, Field(ge=0)]] | None = None
    """GPU indices to train on (set as CUDA_VISIBLE_DEVICES, in this order, before torch starts); None = every
    visible GPU. A list turns off the automatic one-process-a-GPU choice: set distributed.num_processes too."""


class DistributedConfig(Section):
    """Several processes through `accelerate launch` (accelerate's own names): DDP, FSDP (v2) or DeepSpeed."""

    num_processes: PositiveInt = 1
    """Processes in all (GPUs across every machine, as in accelerate); > 1 launches through accelerate."""
    num_machines: PositiveInt = 1
    """Machines taking part; num_processes must split evenly over them. > 1 needs main_process_ip, and every
    machine runs the same command with its own machine_rank (the wizard and `ftwiz plan` print them)."""
    machine_rank: Annotated[int, Field(ge=0)] = 0
    """This machine's index, 0 to num_machines - 1; 0 is the main machine (at main_process_ip), the one that
    writes the run folder."""
    main_process_ip: str | None = None
    """The address of machine 0, the same on every machine; required when num_machines > 1, unused on one."""
    main_process_port: Annotated[int, Field(ge=1, le=65535)] = 29500
    """The TCP port the processes meet on at machine 0 (29500 is torch's usual one). On one machine accelerate
    moves to a free port when it is taken; over several it must be free on machine 0."""
    strategy: Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = "ddp"
    """ddp: each GPU holds a whole replica. fsdp: parameters, gradients and optimizer states sharded over the
    GPUs (FSDP2, one shard unit per decoder layer). deepspeed-zero2/3: DeepSpeed ZeRO (needs `deepspeed`)."""
    cpu_offload: bool = False
    """fsdp / deepspeed: keep sharded states (and, for FSDP and ZeRO-3, parameters) in CPU memory."""


class OutputConfig(Section):
    """Where the run folder goes and what it is called."""

    runs_dir: str = "./runs"
    """The folder that holds run folders (`<runs_dir>/<YYYYMMDD-HHMMSS>-<run_name>`), relative to the folder
    `ftwiz train` runs in; `~` expands. `ftwiz runs`, `attach` & co. look in ./runs unless given --runs-dir or
    $FTWIZ_RUNS_DIR."""
    run_name: str | None = None
    """Run folder name suffix (letters, digits, '.', '_', '-'); None = the preset's or the model's name."""

    @field_validator("run_name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and not RUN_NAME.match(v):
            raise ValueError(f"expected letters, digits, '.', '_' or '-' (it names a folder), got {v!r}")
        return v


class RunConfig(Section):
    """Everything a run needs. Unknown keys are errors; see CONTRACTS.md for the key list."""

    description: str = ""
    """One line shown by `ftwiz presets`."""
    model: ModelConfig
    """The base model (required: model.id)."""
    data: DataConfig
    """The training data (required: data.path)."""
    method: Literal["sft", "cpt", "dpo", "orpo", "kto"] = "sft"
    """sft: answers to prompts (loss on the answers). cpt: continued pretraining on text (loss on everything).
    dpo / orpo / kto: preference pairs (prompt, chosen, rejected) with TRL's DPO, ORPO or KTO trainer."""
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    """What trains (default: LoRA r 16 on all linear layers)."""
    quant: QuantConfig = Field(default_factory=QuantConfig)
    """Quantizing the frozen base (default: none; qlora sets 4 bits)."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """The training loop: steps, batch, optimizer, schedule, evaluation, checkpoints."""
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    """Which GPUs (default: every visible one)."""
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    """Several processes or machines (default: one process)."""
    output: OutputConfig = Field(default_factory=OutputConfig)
    """Where the run folder goes (default: ./runs)."""

    @model_validator(mode="after")
    def _adapter_and_quant_agree(self) -> RunConfig:
        explicit = self.quant.model_fields_set
        if self.adapter.type == "qlora":
            # qlora = lora on a 4-bit NF4 double-quantized base; only an explicit contradiction is an error.
            if "bits" in explicit and self.quant.bits != 4:
                raise ValueError(
                    f"quant.bits: adapter.type 'qlora' trains on a 4-bit base, got quant.bits={self.quant.bits!r}; "
                    "use adapter.type 'lora' for an unquantized or 8-bit base"
                )
            if self.quant.bits != 4:
                # Bypass validate_assignment's re-run of this validator; the value is known good.
                object.__setattr__(self.quant, "bits", 4)
        elif self.adapter.type in ("full", "freeze") and self.quant.bits != "none":
            raise ValueError(
                f"quant.bits: {self.adapter.type} fine-tuning cannot update quantized weights, got quant.bits="
                f"{self.quant.bits!r}; use adapter.type 'qlora' (4-bit) or 'lora' with quant.bits 8"
            )
        return self

    @property
    def quantized(self) -> bool:
        return self.quant.bits != "none"
