"""Build what a run needs from a RunConfig: tokenizer, model, PEFT config, TRL SFTConfig and trainer.

This is where ftwiz's key names meet the installed libraries' (transformers 5: `dtype=`, warmup_steps as a
ratio when < 1, `processing_class=`; TRL 1.x SFTConfig: `max_length`, `assistant_only_loss`, bf16 on by
default, gradient checkpointing on by default). Heavy imports: only the worker imports this module.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedTokenizerBase

from ftwiz import bundled
from ftwiz.config.schema import RunConfig
from ftwiz.data.templates import ensure_chat_template, ensure_pad_token
from ftwiz.models.targets import resolve_targets
from ftwiz.runs.store import RunDir

log = logging.getLogger("ftwiz.train")

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def compute_dtype(name: str) -> torch.dtype:
    """`auto`: bf16 where the GPU supports it, fp16 on older GPUs (T4, V100), fp32 on the CPU."""
    if name != "auto":
        return _DTYPES[name]
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.float32


def model_path(config: RunConfig) -> str:
    return bundled.resolve(config.model.id, key="model.id")


def load_tokenizer(config: RunConfig, decisions: list[str]) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(model_path(config), trust_remote_code=config.model.trust_remote_code)
    if (template := ensure_chat_template(tokenizer, config.data.chat_template)) is not None:
        why = "as data.chat_template asks" if config.data.chat_template else "the tokenizer has none"
        decisions.append(f"chat template: {template} ({why})")
    if (pad := ensure_pad_token(tokenizer)) is not None:
        decisions.append(f"the tokenizer has no pad token: padding with {pad!r}")
    tokenizer.padding_side = "right"  # training; generation switches to left
    return tokenizer


def quantization_config(config: RunConfig) -> BitsAndBytesConfig | None:
    if config.quant.bits == 4:
        dtype = compute_dtype(config.quant.compute_dtype)
        fsdp = config.distributed.num_processes > 1 and config.distributed.strategy == "fsdp"
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=config.quant.type,
            bnb_4bit_use_double_quant=config.quant.double_quant,
            bnb_4bit_compute_dtype=dtype,
            # QLoRA + FSDP: packed 4-bit weights stored in the compute dtype, so FSDP can shard them like the rest.
            **({"bnb_4bit_quant_storage": dtype} if fsdp else {}),
        )
    if config.quant.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def load_model(config: RunConfig) -> Any:
    dtype = compute_dtype(config.model.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": config.model.trust_remote_code}
    if config.model.attn_implementation:
        kwargs["attn_implementation"] = config.model.attn_implementation
        if config.model.trust_remote_code and "/" in config.model.attn_implementation:
            kwargs["allow_all_kernels"] = True  # a Hub kernel outside kernels-community (validated: only then)
    if (quant := quantization_config(config)) is not None:
        kwargs["quantization_config"] = quant
        # Each process of a multi-GPU run loads onto its own GPU (torch's launcher sets LOCAL_RANK).
        local = int(os.environ.get("LOCAL_RANK", "0"))
        kwargs["device_map"] = {"": local if torch.cuda.is_available() else "cpu"}
    model = AutoModelForCausalLM.from_pretrained(model_path(config), **kwargs)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        kind = f"4-bit {config.quant.type}" if config.quant.bits == 4 else "8-bit"
        log.info(
            "base weights quantized to %s%s",
            kind,
            " (double quant)" if config.quant.bits == 4 and config.quant.double_quant else "",
        )

        # Casts norms and the head to fp32 for stable training and wires checkpointing for a frozen k-bit base.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.train.gradient_checkpointing)
    return model


def linear_module_names(model: Any) -> list[str]:
    """Qualified names of the model's linear-like leaves: nn.Linear, transformers' Conv1D, bnb linears."""
    from transformers.pytorch_utils import Conv1D

    kinds: tuple[type, ...] = (torch.nn.Linear, Conv1D)
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def peft_config(config: RunConfig, model: Any) -> Any:
    """The PEFT config for `adapter.type`, target sets resolved to the model's module names; None when the model
    itself trains (full, freeze)."""
    adapter = config.adapter
    if adapter.whole_model:
        return None
    import peft

    if adapter.type in ("prompt_tuning", "prefix_tuning"):
        cls = peft.PromptTuningConfig if adapter.type == "prompt_tuning" else peft.PrefixTuningConfig
        return cls(task_type="CAUSAL_LM", num_virtual_tokens=adapter.num_virtual_tokens)
    targets = resolve_targets(adapter.target_modules, linear_module_names(model))
    if adapter.type == "ia3":
        from ftwiz.models.targets import classify

        # IA3 scales the *input* of feed-forward output layers and the output of the others (the paper's k, v, ff).
        feedforward = [t for t in targets if classify(t.rsplit(".", 1)[-1]).startswith("mlp_down")]
        return peft.IA3Config(task_type="CAUSAL_LM", target_modules=targets, feedforward_modules=feedforward)
    return peft.LoraConfig(
        r=adapter.r,
        lora_alpha=adapter.lora_alpha,
        lora_dropout=adapter.lora_dropout,
        target_modules=targets,
        bias=adapter.bias,
        use_dora=adapter.use_dora,
        use_rslora=adapter.use_rslora,
        init_lora_weights=True if adapter.init_lora_weights == "default" else adapter.init_lora_weights,
        task_type="CAUSAL_LM",
    )


def freeze_all_but_last_layers(model: Any, n: int) -> str:
    """Freeze-tuning: only the last `n` decoder layers (and the final norm) train. Returns what trains."""
    stacks = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 1]
    if not stacks:
        from ftwiz.errors import BadInput

        raise BadInput("adapter.type freeze: cannot find this model's stack of decoder layers")
    name, layers = max(stacks, key=lambda item: len(item[1]))
    n = min(n, len(layers))
    for p in model.parameters():
        p.requires_grad = False
    trained = [f"{name}.{i}" for i in range(len(layers) - n, len(layers))]
    for layer in list(layers)[-n:]:
        for p in layer.parameters():
            p.requires_grad = True
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    for norm_name in ("norm", "ln_f", "final_layernorm", "final_layer_norm"):
        if isinstance(norm := getattr(parent, norm_name, None), torch.nn.Module):
            for p in norm.parameters():
                p.requires_grad = True
            trained.append(norm_name)
    return ", ".join(trained)


def loraplus_optimizer(config: RunConfig, model: Any) -> Any:
    """LoRA+ (PEFT's optimizer): B matrices learn `loraplus_lr_ratio` times faster than A."""
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model,
        optimizer_cls=torch.optim.AdamW,
        lr=config.train.learning_rate,
        loraplus_lr_ratio=config.adapter.loraplus_lr_ratio,
        weight_decay=config.train.weight_decay,
    )


def training_args(config: RunConfig, run: RunDir, *, has_eval: bool, config_class: type) -> dict[str, Any]:
    """The TrainingArguments every trainer shares (SFT and DPO), under the names the installed versions know."""
    train = config.train
    dtype = compute_dtype(config.quant.compute_dtype if config.quantized else config.model.dtype)
    on_gpu = torch.cuda.is_available()
    # transformers 5 renamed gradient checkpointing to activation checkpointing (the old name warns, then goes
    # in v6); TRL's configs default it on, so always pass it under the name the installed version knows.
    names = {f.name for f in dataclasses.fields(config_class)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    fsdp = config.distributed.num_processes > 1 and config.distributed.strategy == "fsdp"
    return {
        checkpointing: train.gradient_checkpointing and not fsdp,  # FSDP checkpoints activations itself
        "output_dir": str(run.checkpoints),
        "num_train_epochs": train.num_train_epochs,
        "max_steps": train.max_steps,
        "per_device_train_batch_size": train.per_device_train_batch_size,
        "per_device_eval_batch_size": train.per_device_train_batch_size,
        "gradient_accumulation_steps": train.gradient_accumulation_steps,
        "learning_rate": train.learning_rate,
        "lr_scheduler_type": train.lr_scheduler_type,
        "warmup_steps": train.warmup_steps,  # transformers 5: < 1 is a ratio of all steps
        "weight_decay": train.weight_decay,
        "optim": train.optim,
        "seed": train.seed,
        "data_seed": train.seed,
        "logging_steps": train.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "steps" if has_eval and train.eval_steps else "no",
        "eval_steps": train.eval_steps,
        "save_strategy": "steps" if train.save_steps or train.early_stopping_patience else "no",
        # Early stopping keeps the best checkpoint: the Trainer needs one saved at every evaluation.
        "save_steps": train.eval_steps if train.early_stopping_patience else (train.save_steps or 500),
        "load_best_model_at_end": train.early_stopping_patience is not None and has_eval,
        "metric_for_best_model": "eval_loss" if train.early_stopping_patience else None,
        "greater_is_better": False if train.early_stopping_patience else None,
        "save_total_limit": train.save_total_limit,
        "report_to": [] if train.report_to == "none" else [train.report_to],
        "bf16": on_gpu and dtype == torch.bfloat16,  # TRL defaults bf16 on; the CPU trains in fp32
        "fp16": on_gpu and dtype == torch.float16,
        "include_num_input_tokens_seen": "non_padding",
        "disable_tqdm": True,  # the run folder is the progress display; tqdm would fill train.log
        "dataloader_num_workers": 0,
        # DDP: every adapter parameter takes part in each forward pass, so skip the extra autograd traversal that
        # hunts for unused ones (full fine-tuning keeps the default: an MoE's unrouted experts are unused).
        "ddp_find_unused_parameters": None if config.adapter.whole_model else False,
        # Without CUDA, processes started by `accelerate launch` join over gloo (accelerate's CPU state).
        "use_cpu": not on_gpu,
        **_liger(config, on_gpu),
    }


def _liger(config: RunConfig, on_gpu: bool) -> dict[str, Any]:
    """train.use_liger_kernel as TrainingArguments' `use_liger_kernel`, refused where it cannot run."""
    if not config.train.use_liger_kernel:
        return {}
    import importlib.util

    from ftwiz.errors import BadInput

    if importlib.util.find_spec("liger_kernel") is None:
        raise BadInput(
            "train.use_liger_kernel: the liger-kernel package is not installed",
            hint="pip install liger-kernel (pure Python, no build), or set train.use_liger_kernel: false.",
        )
    if not on_gpu:
        raise BadInput(
            "train.use_liger_kernel: Liger's kernels are Triton kernels for CUDA GPUs; this run is on the CPU"
        )
    return {"use_liger_kernel": True}


def _activation_offloading(config: RunConfig) -> bool:
    """train.activation_offloading, refused without CUDA (TRL copies on a CUDA stream into pinned memory)."""
    if not config.train.activation_offloading:
        return False
    if not torch.cuda.is_available():
        from ftwiz.errors import BadInput

        raise BadInput(
            "train.activation_offloading: TRL offloads activations from a CUDA GPU; this run is on the CPU",
            hint="Set train.activation_offloading: false here.",
        )
    return True


CPT_CHUNKING = (
    "cpt: documents joined (each ending in EOS) and cut into {n}-token blocks (TRL's 'wrapped' packing), so a "
    "document longer than data.max_length trains whole, never truncated to its first {n} tokens"
)


def packing(config: RunConfig) -> tuple[bool, str, str | None]:
    """(packing, TRL's packing_strategy, the decision to record). Continued pretraining always chunks: without
    packing TRL truncates each row to max_length (a 256k-token document would train as its first 1,024 tokens),
    and its default best-fit packing truncates over-long rows too; 'wrapped' concatenates the documents and cuts
    the stream into full max_length blocks, the usual pretraining layout (blocks may span two documents).
    Other methods keep data.packing with best-fit decreasing, which keeps rows apart for the answers-only masks."""
    if config.method == "cpt":
        return True, "wrapped", CPT_CHUNKING.format(n=config.data.max_length)
    return config.data.packing, "bfd", None


def sft_config(config: RunConfig, run: RunDir, *, has_eval: bool) -> Any:
    from trl import SFTConfig

    answers_only = config.method == "sft" and config.data.train_on == "assistant"
    packed, strategy, _ = packing(config)
    return SFTConfig(
        **training_args(config, run, has_eval=has_eval, config_class=SFTConfig),
        max_length=config.data.max_length,
        packing=packed,
        packing_strategy=strategy,
        # Chats arrive pre-tokenized with `assistant_masks` (ftwiz.data.masking), which TRL applies whatever this
        # says; True would make TRL re-check the template and refuse the ones it cannot patch (Llama 3.1).
        assistant_only_loss=False,
        completion_only_loss=None if answers_only else False,  # None: TRL's default, on for prompt/completion
        activation_offloading=_activation_offloading(config),
    )


PREFERENCE_TRAINERS = {  # method -> (module, trainer, config); ORPO lives in trl.experimental in TRL 1.x
    "dpo": ("trl", "DPOTrainer", "DPOConfig"),
    "orpo": ("trl.experimental.orpo", "ORPOTrainer", "ORPOConfig"),
    "kto": ("trl", "KTOTrainer", "KTOConfig"),
}


def kto_weights(desirable: int, undesirable: int) -> tuple[float, float] | None:
    """KTO's (desirable_weight, undesirable_weight) for unbalanced feedback, or None when the defaults do.

    The KTO paper (Ethayarajh et al., 2024, section 4) keeps desirable_weight x n_desirable /
    (undesirable_weight x n_undesirable) between 1 and 4/3; TRL only warns outside it. Undesirable answers stay
    at weight 1 and desirable ones are scaled to the nearest end of that range."""
    if not desirable or not undesirable:
        return None
    ratio = desirable / undesirable
    if 1 <= ratio <= 4 / 3:
        return None
    target = 1.0 if ratio < 1 else 4 / 3
    return round(target / ratio, 4), 1.0


def preference_trainer(
    config: RunConfig, run: RunDir, *, has_eval: bool, labels: tuple[int, int] | None = None
) -> tuple[type, Any]:
    """The TRL trainer class for a preference method and its config (`beta` means each method's own weight;
    `labels`: KTO's desirable and undesirable row counts, to balance their weights)."""
    import importlib

    module, trainer, config_name = PREFERENCE_TRAINERS[config.method]
    loaded = importlib.import_module(module)
    config_class = getattr(loaded, config_name)
    extra: dict[str, float] = {}
    if config.method == "kto" and labels and (weights := kto_weights(*labels)):
        extra = {"desirable_weight": weights[0], "undesirable_weight": weights[1]}
        log.info("KTO: %d desirable, %d undesirable rows: desirable_weight %.4g balances them", *labels, weights[0])
    args = config_class(
        **training_args(config, run, has_eval=has_eval, config_class=config_class),
        max_length=config.data.max_length,
        beta=config.train.beta,
        **extra,
    )
    return getattr(loaded, trainer), args


def make_trainer(
    config: RunConfig,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    train_ds: Any,
    eval_ds: Any,
    run: RunDir,
    callbacks: list[Any],
    decisions: list[str] | None = None,
) -> Any:
    """The TRL trainer for the method; `decisions` collects what was decided on the way (rows left out)."""
    from trl import SFTTrainer

    if config.train.early_stopping_patience is not None and eval_ds is not None:
        from transformers import EarlyStoppingCallback

        callbacks = [*callbacks, EarlyStoppingCallback(config.train.early_stopping_patience)]
    peft_cfg, optimizers = peft_config(config, model), (None, None)
    if config.adapter.type == "freeze":
        log.info("freeze-tuning: training %s", freeze_all_but_last_layers(model, config.adapter.trainable_layers))
    elif config.adapter.loraplus_lr_ratio and config.adapter.type in ("lora", "qlora"):
        from peft import get_peft_model

        model, peft_cfg = get_peft_model(model, peft_cfg), None  # the optimizer needs the adapter's parameters
        optimizers = (loraplus_optimizer(config, model), None)
        log.info("LoRA+: B learns %gx faster than A", config.adapter.loraplus_lr_ratio)
    if config.method in PREFERENCE_TRAINERS:
        # DPO/KTO: the policy is the adapter; with a PEFT config and no ref_model, TRL scores the reference with the
        # adapter disabled: the frozen base is the reference, with no second copy of the model. ORPO needs none.
        labels = None
        if "label" in train_ds.column_names:  # KTO feedback rows (TRL unpairs DPO-style pairs itself, balanced)
            good = sum(train_ds["label"])
            labels = (good, len(train_ds) - good)
        trainer_cls, args = preference_trainer(config, run, has_eval=eval_ds is not None, labels=labels)
    else:
        trainer_cls, train_ds, eval_ds, args = (
            SFTTrainer,
            *_sft_inputs(config, tokenizer, train_ds, eval_ds, run, decisions),
        )
    return trainer_cls(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_cfg,
        callbacks=callbacks,
        optimizers=optimizers,
    )


def _sft_inputs(
    config: RunConfig, tokenizer: Any, train_ds: Any, eval_ds: Any, run: RunDir, decisions: list[str] | None = None
) -> tuple[Any, Any, Any]:
    """The datasets and the SFTConfig. Conversations are always pre-tokenized through ftwiz.data.masking, the
    masking `ftwiz data check --tokenizer` and the wizard's preview use: rows that went through Arrow (every
    optional key None, arguments as JSON strings) cannot go through TRL's own tokenization unchanged, and one
    path keeps what was checked and what trains the same. TRL then builds labels from `assistant_masks`."""
    if "messages" in train_ds.column_names:
        answers_only = config.method == "sft" and config.data.train_on == "assistant"
        train_on = "assistant" if answers_only else "all"
        log.info("rendering chats with %s", _masking_note(tokenizer))
        train_ds = _pretokenized(config, tokenizer, train_ds, train_on, "training", decisions)
        if eval_ds is not None:
            eval_ds = _pretokenized(config, tokenizer, eval_ds, train_on, "held-out", decisions)
    return train_ds, eval_ds, sft_config(config, run, has_eval=eval_ds is not None)


def _masking_note(tokenizer: Any) -> str:
    from ftwiz.data.masking import masking_plan

    how = masking_plan(tokenizer).how
    return {
        "markers": "the template's own {% generation %} markers",
        "trl": "TRL's training variant of the chat template (generation markers)",
        "prefix": "the chat template; no {% generation %} markers: ftwiz masks the prompts by rendering prefixes",
    }[how]


def _pretokenized(
    config: RunConfig, tokenizer: Any, dataset: Any, train_on: str, name: str, decisions: list[str] | None
) -> Any:
    """One split pre-tokenized; rows the chat template cannot render stop the run (data.on_error: stop, exit 2)
    or are dropped and said (skip). Rows are named by their index in the split: the file lines are behind."""
    from ftwiz.data.masking import pretokenize
    from ftwiz.errors import BadInput

    out, problems = pretokenize(dataset, tokenizer, train_on)
    if not problems:
        return out
    first = "; ".join(f"row {i + 1}: {why}" for i, why in problems[:3])
    if config.data.on_error == "stop":
        raise BadInput(
            f"data: the chat template cannot render {len(problems)} of {len(dataset)} {name} rows ({first})",
            hint="`ftwiz data check PATH --tokenizer MODEL` lists them by file and line; fix them, or set "
            "data.on_error: skip to train without them.",
        )
    note = f"data.on_error skip: dropped {len(problems)} of {len(dataset)} {name} rows the chat template cannot "
    note += f"render (first: {first})"
    log.warning("%s", note)
    if decisions is not None:
        decisions.append(note)
    if not len(out):
        raise BadInput(f"data: no {name} row can be rendered by the chat template ({first})")
    return out
