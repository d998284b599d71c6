"""RunConfig: the single description of a run (CONTRACTS.md, "Config keys").

The wizard edits it screen by screen, a preset is a partial one in YAML, `--set key.path=value` overrides a
field, and the worker reads the frozen copy in `runs/<id>/config.yaml`. Names follow PEFT / TRL /
TrainingArguments; `ftwiz.train.build` maps them onto whatever the installed versions call them.

Pure: pydantic only, no torch.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]

Dtype = Literal["auto", "bfloat16", "float16", "float32"]

# transformers' SchedulerType values (checked against the installed enum in tests/unit/test_config.py).
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)
SchedulerName = Literal[SCHEDULERS]  # type: ignore[valid-type]

# The optimizers people use for LoRA/QLoRA/full fine-tuning; all are names of transformers' OptimizerNames
# (checked in tests). Kept to a list so a typo is caught before a model is loaded.
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_8bit",
    "adamw_bnb_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adafactor",
    "sgd",
    "adagrad",
    "rmsprop",
    "lion_8bit",
    "paged_lion_8bit",
    "lion_32bit",
    "ademamix",
    "ademamix_8bit",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "schedule_free_adamw",
)
OptimizerName = Literal[OPTIMIZERS]  # type: ignore[valid-type]

TARGET_SETS = ("attention_qv", "attention", "all_linear")
TARGET_SET_ALIASES = {"all-linear": "all_linear"}

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in "2h", "90m", "1h30m", "45s" or a bare number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _DURATION.match(text)
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"expected a duration such as '2h', '90m' or '1h30m', got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def deadline_at(deadline: str | float | int, start: datetime) -> datetime:
    """When a deadline falls for a run that started at `start` (timezone-aware): a duration counts from the start;
    a clock time ("18:30", the next one) or a date-time ("2026-11-24T06:00", "... +00:00") is when the box goes.
    Naive times are local."""
    try:
        return start + timedelta(seconds=parse_duration(deadline))
    except ValueError:
        pass
    text = str(deadline).strip()
    if _CLOCK.match(text):
        hour, minute = (int(x) for x in text.split(":"))
        local = start.astimezone()
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return at if at > local else at + timedelta(days=1)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected a duration ('2h', '90m'), a clock time ('18:30') or a date-time ('2026-11-24T06:00'), "
            f"got {deadline!r}"
        ) from None
    return at if at.tzinfo else at.astimezone()


class Section(BaseModel):
    """Base of every section: unknown keys are errors, assignments are validated (the wizard assigns)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    id: str = Field(min_length=1)
    """A hub id (`microsoft/phi-2`), a local folder, or a bundled model (`ftwiz:tiny-demo/model`)."""
    dtype: Dtype = "auto"
    """Weights and compute dtype; `auto` = bf16 where the GPU supports it, else fp16 on GPU, fp32 on CPU."""
    trust_remote_code: bool = False
    """Run Python code shipped with the model. Off unless you trust the repository."""
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"] | None = (
        None
    )
    """None lets transformers choose (SDPA where available)."""


class DataConfig(Section):
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
    val_size: Annotated[float, Field(ge=0)] = 0.05
    """Held-out share for eval: a fraction < 1, or a number of rows >= 1 (0 = no eval)."""
    max_length: PositiveInt = 1024
    """Tokens per training sequence; longer rows are truncated (and counted)."""
    packing: bool = False
    """Pack rows into max_length sequences without padding (TRL's best-fit decreasing packing is padding-free:
    position ids keep the rows apart, and the answers-only masks are kept)."""
    on_error: Literal["stop", "skip"] = "stop"
    chat_template: Literal["chatml", "llama-3", "mistral-instruct", "alpaca", "phi"] | None = None
    """A named template instead of the tokenizer's own (used anyway, as ChatML, when it has none)."""
    train_on: Literal["assistant", "all"] = "assistant"
    """`assistant`: loss only on the model's answers (the prompt is masked). `all`: every token."""

    @field_validator("val_size")
    @classmethod
    def _whole_rows(cls, v: float) -> float:
        if v >= 1 and v != int(v):
            raise ValueError(f"expected a fraction < 1 or a whole number of rows, got {v}")
        return v


PREFERENCE_METHODS = ("dpo", "orpo", "kto")
"""Methods that train on preference pairs; each micro-batch runs two sequences a row (chosen and rejected)."""
ADAPTER_TYPES = ("full", "lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning", "freeze")
PEFT_TYPES = ("lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning")


class AdapterConfig(Section):
    type: Literal["full", "lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning", "freeze"] = "lora"
    """full: every weight trains. lora: low-rank adapters on a frozen base. qlora: lora on a 4-bit NF4 base.
    ia3: learned scaling vectors (tiny). prompt_tuning / prefix_tuning: learned virtual tokens. freeze: the last
    `trainable_layers` decoder layers train, the rest is frozen (no adapter)."""
    r: PositiveInt = 16
    lora_alpha: PositiveFloat = 32
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    target_modules: str | list[str] = "all_linear"
    """A set (attention_qv, attention, all_linear) or an explicit list of module names."""
    bias: Literal["none", "all", "lora_only"] = "none"
    use_dora: bool = False
    use_rslora: bool = False
    init_lora_weights: Literal["default", "gaussian", "pissa", "olora"] = "default"
    """PiSSA/OLoRA start the adapter from the weights' principal directions (faster convergence); the saved
    adapter is converted so it loads on the original base."""
    loraplus_lr_ratio: PositiveFloat | None = None
    """LoRA+: B learns this many times faster than A (16 is the paper's default); None = plain LoRA."""
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
    bits: Literal["none", 8, 4] = "none"
    type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Dtype = "auto"

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
    num_train_epochs: PositiveFloat = 1.0
    max_steps: Annotated[int, Field(ge=-1)] = -1
    """Optimizer steps; -1 = run for num_train_epochs."""
    per_device_train_batch_size: PositiveInt = 4
    gradient_accumulation_steps: PositiveInt = 1
    learning_rate: PositiveFloat = 2e-4
    lr_scheduler_type: SchedulerName = "cosine"
    warmup_steps: NonNegativeFloat = 0.03
    """Whole steps, or a fraction < 1 of all steps (transformers 5 folded `warmup_ratio` into this)."""
    weight_decay: NonNegativeFloat = 0.0
    optim: OptimizerName = "adamw_torch"
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: ~30% slower steps for far less activation memory."""
    seed: int = 42
    logging_steps: PositiveInt = 10
    eval_steps: PositiveInt | None = None
    """Evaluate every N steps; evaluation always runs before the first and after the last step."""
    save_steps: PositiveInt | None = 200
    """Checkpoint every N steps (for resume); None = only the final adapter."""
    save_total_limit: PositiveInt | None = 2
    report_to: Literal["none", "tensorboard", "wandb"] = "none"
    deadline: str | float | None = None
    """Stop gracefully (checkpoint + adapter, state `stopped`, exit 3) before the box expires: a duration from
    the start ('2h', '90m'), a clock time ('18:30') or a date-time ('2026-11-24T06:00+00:00')."""
    price_per_hour: NonNegativeFloat | None = None
    """What the whole GPU box costs you per hour (all its GPUs), for the monitor's cost so far."""
    early_stopping_patience: PositiveInt | None = None
    """Stop when the eval loss has not improved for this many evaluations (needs eval_steps); the best
    checkpoint is the one saved."""
    beta: PositiveFloat = 0.1
    """DPO only: how far the policy may move from the reference (TRL's `beta`; higher = closer to the base)."""
    allow_qlora_fallback: bool = False
    """On a CUDA out-of-memory error in the first steps, may the worker switch LoRA to QLoRA (after a smaller
    micro-batch and gradient checkpointing)? Off: quantizing changes what you train, so you opt in."""

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
    gpus: list[Annotated[int, Field(ge=0)]] | None = None
    """GPU indices to train on (CUDA_VISIBLE_DEVICES); None = every visible GPU."""


class DistributedConfig(Section):
    """Several processes through `accelerate launch` (accelerate's own names): DDP, FSDP (v2) or DeepSpeed."""

    num_processes: PositiveInt = 1
    """Processes in all (GPUs across every machine, as in accelerate); > 1 launches through accelerate."""
    num_machines: PositiveInt = 1
    machine_rank: Annotated[int, Field(ge=0)] = 0
    main_process_ip: str | None = None
    main_process_port: Annotated[int, Field(ge=1, le=65535)] = 29500
    strategy: Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = "ddp"
    """ddp: each GPU holds a whole replica. fsdp: parameters, gradients and optimizer states sharded over the
    GPUs (FSDP2, one shard unit per decoder layer). deepspeed-zero2/3: DeepSpeed ZeRO (needs `deepspeed`)."""
    cpu_offload: bool = False
    """fsdp / deepspeed: keep sharded states (and, for FSDP and ZeRO-3, parameters) in CPU memory."""


class OutputConfig(Section):
    runs_dir: str = "./runs"
    run_name: str | None = None
    """Folder name suffix; defaults to the preset or the model's name."""

    @field_validator("run_name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and not _RUN_NAME.match(v):
            raise ValueError(f"expected letters, digits, '.', '_' or '-' (it names a folder), got {v!r}")
        return v


class RunConfig(Section):
    """Everything a run needs. Unknown keys are errors; see CONTRACTS.md for the key list."""

    description: str = ""
    """One line shown by `ftwiz presets`."""
    model: ModelConfig
    data: DataConfig
    method: Literal["sft", "cpt", "dpo", "orpo", "kto"] = "sft"
    """sft: answers to prompts (loss on the answers). cpt: continued pretraining on text (loss on everything).
    dpo / orpo / kto: preference pairs (prompt, chosen, rejected) with TRL's DPO, ORPO or KTO trainer."""
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    quant: QuantConfig = Field(default_factory=QuantConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

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
