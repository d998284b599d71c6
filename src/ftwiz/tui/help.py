"""What each wizard field means and costs: a one-line hint under the form, and a longer text (F1 / ?) with the
current model's numbers. Pure text: no textual import, so it is tested like any other function.
"""

from __future__ import annotations

from ftwiz.config.schema import RunConfig
from ftwiz.hardware.probe import Hardware
from ftwiz.plan.draft import Draft, gib

SHORT: dict[str, str] = {
    "gpus": "Which GPUs this run uses (hardware.gpus). Space toggles.",
    "plan_gpu": "No GPU here: the card to plan for (what you would rent).",
    "plan_count": "How many of them. On several, Recommend (Ctrl+R) also picks DDP, FSDP or ZeRO. F1: why.",
    "model": "A hub id (Qwen/Qwen2.5-0.5B-Instruct), a local folder, or ftwiz:tiny-demo/model. Enter inspects it.",
    "targets": "Which linear layers get LoRA adapters: more layers, more capacity, more memory.",
    "custom_targets": "Module names, comma-separated (e.g. q_proj,v_proj).",
    "data": "A .jsonl/.json/.csv/.parquet/.txt file, folder, glob or hub dataset (demo: "
    "ftwiz:tiny-demo/data/train.jsonl). Enter checks it.",
    "format": "How rows are read; auto detects it from the keys.",
    "on_error": "stop: bad rows stop the run. skip: bad rows are dropped and counted.",
    "method": "sft: answers to prompts. cpt: raw text. dpo/orpo/kto: preference pairs; kto also thumbs-up/down.",
    "adapter": "full trains every weight; LoRA trains small adapters; QLoRA does so on a 4-bit base.",
    "r": "LoRA rank: the adapters' width. Barely changes memory or speed; 16 is the common default.",
    "lora_alpha": "Scales the adapters' update (alpha / r); 2 x r is common.",
    "lora_dropout": "Dropout on the adapters' input; 0.05 is common, 0 is faster.",
    "batch": "Sequences per GPU per forward pass: the biggest memory knob after the model itself.",
    "accum": "Micro-batches per optimizer step: a larger effective batch with no extra memory.",
    "max_length": "Tokens per sequence; longer rows are truncated. Activations grow with it.",
    "checkpointing": "Recompute activations in the backward pass: far less memory, ~33% slower steps.",
    "lr": "Learning rate: 2e-4 is typical for LoRA, 1e-5 to 2e-5 for full fine-tuning.",
    "epochs": "Passes over the data (max_steps, when set, wins).",
    "init": "How LoRA starts: B = 0 (default), or PiSSA/OLoRA from the weights' principal directions.",
    "loraplus": "LoRA+: B learns this many times faster than A (16 in the paper). Empty: plain LoRA.",
    "virtual_tokens": "Learned tokens prepended to every sequence (prompt/prefix tuning); 20 is common.",
    "trainable_layers": "Freeze-tuning: how many of the last decoder layers train; the rest stays frozen.",
    "save_path": "Where the YAML is written; `ftwiz train FILE --headless` runs it again.",
    "more": "Run length, logging, evals, checkpoints, run name, LR schedule, attention, memory savers.",
    "max_steps": "Optimizer steps to train; empty: the epochs decide.",
    "logging_steps": "A loss line (monitor, metrics.jsonl) every N optimizer steps.",
    "eval_steps": "Evaluate on held-out rows every N steps; empty: start and end.",
    "save_steps": "A checkpoint every N steps, for resume; empty: final adapter.",
    "run_name": "Names the run folder runs/<time>-<name>; empty: preset/model.",
    "lr_scheduler": "How the learning rate moves after warmup; cosine by default.",
    "attention": "Attention kernel: auto = SDPA; eager stores seq x seq scores.",
    "offload": "Saved activations wait in host RAM (TRL): far less GPU memory.",
    "liger": "Liger's norm/RoPE/SwiGLU kernels: fewer activations (CUDA).",
}


# The More group's fields: F1 adds the config key and the schema's own description of it (one text, two places).
CONFIG_KEYS = {
    "max_steps": "train.max_steps",
    "logging_steps": "train.logging_steps",
    "eval_steps": "train.eval_steps",
    "save_steps": "train.save_steps",
    "run_name": "output.run_name",
    "lr_scheduler": "train.lr_scheduler_type",
    "attention": "model.attn_implementation",
    "offload": "train.activation_offloading",
    "liger": "train.use_liger_kernel",
}


def described(dotted: str) -> str:
    """A RunConfig key's description (its docstring in config/schema.py)."""
    section, name = dotted.split(".")
    model = RunConfig.model_fields[section].annotation
    return " ".join((model.model_fields[name].description or "").split())  # type: ignore[union-attr]


def long_help(key: str, draft: Draft) -> str:
    """The longer explanation, with this model's numbers where they exist."""
    estimated = draft.estimated()
    memory = estimated.memory if estimated else None
    steps = estimated.steps if estimated else None
    trainable = memory.trainable_params if memory else None
    params = draft.inspection["params_total"] if draft.inspection else None
    texts = {
        "r": (
            "LoRA freezes a weight W and learns W + (alpha/r)·B·A, with A of shape r x in and B of shape out x r. "
            "Each targeted layer adds r x (in + out) parameters, so the adapter grows linearly with r; its memory "
            "(weights, gradients and optimizer states) is small next to the frozen model's."
            + (
                f"\n\nThis model at r={draft.get('adapter.r')}: {trainable:,} trainable parameters "
                f"({100 * trainable / params:.2f}% of {params:,}); adapter + gradients + optimizer "
                f"{gib(memory.trainable + memory.gradients + memory.optimizer)}."
                if memory and params
                else ""
            )
        ),
        "lora_alpha": (
            "The update is scaled by alpha / r: with alpha = 2r the scale is 2 whatever the rank, so you can change r "
            "without retuning the learning rate. use_rslora scales by alpha / sqrt(r) instead, which keeps high "
            "ranks effective."
        ),
        "lora_dropout": (
            "Dropout on the adapter's input during training. It regularises small datasets; it also costs one copy "
            "of each targeted layer's input activations, so 0 saves memory on long sequences."
        ),
        "targets": (
            "attention_qv: the query and value projections (the original LoRA paper). attention: all four attention "
            "projections. all_linear: attention and MLP layers (QLoRA paper's choice: best quality, ~3x the "
            "adapter parameters of attention_qv). ftwiz resolves the set to this model's module names."
            + (
                "\n\nThis model: "
                + ", ".join(f"{k} {v:,}" for k, v in draft.inspection["trainable_params"].items())
                + f" trainable parameters at r={draft.inspection['rank']}."
                if draft.inspection
                else ""
            )
        ),
        "adapter": (
            "full: every weight trains; the optimizer holds two fp32 moments per parameter (~16 bytes a parameter "
            "with mixed precision). LoRA: the 16-bit base is frozen (2 bytes a parameter) and only adapters train. "
            "QLoRA: the base is stored in 4-bit NF4 (~0.5 bytes a parameter, plus scales; double quantization "
            "quantizes the scales too, saving ~0.4 bits a parameter), dequantized layer by layer in the forward "
            "pass: about 3-4x less weight memory than LoRA, 20-40% slower steps."
            + (f"\n\nThis model has {params:,} parameters: ~{gib(params * 2)} of bf16 weights." if params else "")
        ),
        "checkpointing": (
            "Without it, every layer's activations are kept for the backward pass; with it, only each layer's "
            "input is kept and the rest recomputed, at the price of a second forward pass (~33% more time)."
            + (f"\n\nNow: activations {gib(memory.activations)}." if memory else "")
        ),
        "batch": (
            "Activations and logits grow linearly with micro-batch x sequence length. The effective batch is "
            "micro-batch x accumulation x GPUs; the optimizer sees only that."
            + (f"\n\nNow: activations {gib(memory.activations)}, logits {gib(memory.logits)}." if memory else "")
        ),
        "max_length": (
            "Rows longer than this are truncated (counted by the data check); shorter ones are padded per batch, or "
            "packed together with data.packing. The logits take micro-batch x length x vocabulary x 6 bytes at "
            "the loss, which dominates for 128k-vocabulary models. At most the model's context (the launch refuses "
            "more); method cpt cuts its documents into blocks of this length."
        ),
        "packing": (
            "Packing puts several rows into one max_length sequence with no padding (TRL's best-fit decreasing "
            "packing keeps them apart with position ids), so no compute is spent on padding tokens."
        ),
        "nf4": (
            "NF4 (4-bit NormalFloat) places its 16 levels at the quantiles of a normal distribution, which is how "
            "trained weights are distributed; FP4 spaces them like a float. NF4 loses less quality at the same size."
        ),
        "padding_side": (
            "Training pads on the right (the answer's tokens stay aligned with their labels); generation pads on "
            "the left, so every prompt in a batch ends where the new tokens begin. ftwiz sets both."
        ),
        "gpus": (
            "Several GPUs train one run together (distributed.num_processes, through accelerate launch). DDP: "
            "each GPU holds a whole replica and only gradients travel, once per optimizer step: the fastest when a "
            "replica fits. FSDP (or DeepSpeed ZeRO-3): weights, gradients and optimizer states are split over the "
            "GPUs, and each layer's weights are gathered for every micro-batch: a model that fits no single GPU "
            "trains, at the price of that traffic. ZeRO-2 splits gradients and optimizer states only. CPU offload "
            "moves the split states to host memory: the last resort, much slower. Ctrl+R chooses among them."
            + _strategy_numbers(draft)
        ),
    }
    texts["max_steps"] = (
        "An optimizer step is micro-batch x accumulation x GPUs sequences. With max_steps set the run stops there, "
        "whatever the epochs say (TrainingArguments' `max_steps`); a few steps are the quickest check that a config "
        "trains at all. Empty (-1): train for num_train_epochs."
        + (f"\n\nNow: {steps:,} optimizer steps." if steps else "")
    )
    texts["lr_scheduler"] = (
        "After warmup (train.warmup_steps) the rate starts at the learning rate and then: linear falls to 0 at the "
        "last step; cosine follows half a cosine to 0 (the common choice); cosine_with_restarts does so in cycles; "
        "polynomial falls as a power of the remaining steps; inverse_sqrt as 1/sqrt(step); constant_with_warmup "
        "holds it; constant holds it and skips the warmup. The schedules that need more arguments "
        "(cosine_with_min_lr, warmup_stable_decay) or evaluations (reduce_lr_on_plateau) are not offered here; "
        "set them in the YAML."
    )
    texts["lr"] = (
        "The peak rate, reached after warmup. LoRA updates a low-rank delta that starts at zero and learns best at "
        "~10x the full fine-tuning rate: ~2e-4 where full fine-tuning takes ~2e-5 (TRL's SFT default); DPO, ORPO "
        "and KTO start ten times lower (1e-6 full, 1e-5 LoRA). Recommend (Ctrl+R) sets it for the adapter it "
        "chooses."
    )
    texts["attention"] = (
        "SDPA (torch's scaled_dot_product_attention, what auto picks) and FlashAttention never store the "
        "sequence x sequence scores; eager does, per layer, in the backward pass too. FlashAttention-2 needs an "
        "Ampere or newer GPU and either `pip install flash-attn --no-build-isolation` (compiles without a matching "
        "wheel: can take an hour) or `pip install kernels`, which fetches a prebuilt kernels-community/flash-attn2 "
        "from the Hub once (offline it must already be cached). `ftwiz doctor` says which you have."
        + (f"\n\nNow: activations {gib(memory.activations)}." if memory else "")
    )
    texts["offload"] = (
        "TRL's activation offloading moves what each layer saves for the backward pass to pinned host memory and "
        "brings it back a layer ahead: the GPU keeps about two layers' worth. The copies cross PCIe twice per "
        "micro-batch, mostly behind compute. Nothing to install. Recommend turns it on when nothing fits without."
        + (f"\n\nNow: {gib(memory.offloaded)} in host memory." if memory and memory.offloaded else "")
    )
    texts["liger"] = (
        "Liger's Triton kernels for RMSNorm, RoPE and SwiGLU keep fewer activations (the norms' fp32 copies, the "
        "MLP's activation); TRL keeps its own fused LM head. `pip install liger-kernel`: pure Python with Triton "
        "kernels, no build; CUDA only. Their speed effect is not counted in the estimate."
    )
    texts["plan_count"] = texts["gpus"]
    text = texts.get(key) or SHORT.get(key, "")
    if key in CONFIG_KEYS:
        text += f"\n\n`{CONFIG_KEYS[key]}`: {described(CONFIG_KEYS[key])}"
    return text


def no_gpu_notice(hardware: Hardware | None, draft: Draft) -> str | None:
    """What the Method, Review and Launch steps say on a GPU-less machine: that there is no GPU, which card the
    estimates are for (the one picked on the Hardware step) and where a launch here would train. None with a GPU
    (or before the probe)."""
    if hardware is None or hardware.has_gpu:
        return None
    plan = (
        f"The plan is for {draft.gpu.label}, the card chosen on step 1 (Hardware)"
        if draft.gpu is not None
        else "Choose the card to plan for on step 1 (Hardware)"
    )
    return (
        f"No GPU on this machine ({hardware.no_gpu_reason or 'no NVIDIA GPU'}). {plan}; launched here, the run "
        "trains on the CPU, far more slowly."
    )


def _strategy_numbers(draft: Draft) -> str:
    """Per-GPU memory of the current choices under each strategy, on the GPUs the draft plans for."""
    from dataclasses import replace

    from ftwiz.plan.memory import estimate_memory

    setup = draft.setup() if draft.inspection is not None and draft.gpu is not None else None
    if setup is None or draft.gpu is None or draft.gpu.count < 2:
        return ""
    n = draft.gpu.count
    lines = [
        f"{name}: {gib(estimate_memory(draft.spec, draft.inspection, replace(setup, strategy=s, world_size=n)).total)}"
        for s, name in (("ddp", "DDP"), ("fsdp", "FSDP / ZeRO-3"), ("deepspeed-zero2", "ZeRO-2"))
    ]
    return f"\n\nThis run on {n} GPUs, per GPU: " + ", ".join(lines) + "."


GLOSSARY = {
    "r": "LoRA rank r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "targets": "Target modules",
    "adapter": "Full, LoRA, QLoRA (and double quantization)",
    "nf4": "NF4",
    "checkpointing": "Gradient checkpointing",
    "batch": "Micro-batch and accumulation",
    "max_length": "Sequence length",
    "packing": "Packing",
    "padding_side": "Padding side",
    "gpus": "Several GPUs: DDP, FSDP, ZeRO, offload",
}


def help_markdown(key: str, draft: Draft) -> str:
    """The focused field's explanation, then - below a rule, under their own heading - the other topics, so the
    page answers the question asked before it becomes a glossary (F1)."""
    title = GLOSSARY.get(key, key.replace("_", " "))
    others = "\n\n".join(f"### {GLOSSARY[k]}\n\n{long_help(k, draft)}" for k in GLOSSARY if k != key)
    return f"## {title}\n\n{long_help(key, draft)}\n\n---\n\n## Other topics\n\n{others}"
