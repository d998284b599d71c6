"""The model card pushed with a run's result: base model, data, method, hyperparameters, eval results.

Pure: built from the run's config.yaml and status.json, which hold no secrets.
"""

from __future__ import annotations

from typing import Any

import yaml

from ftwiz import __version__
from ftwiz.config.schema import RunConfig


def model_card(config: RunConfig, status: dict[str, Any], *, merged: bool, repo_id: str) -> str:
    final = status.get("final") or {}
    adapter = config.adapter
    base = config.model.id
    meta: dict[str, Any] = {
        "base_model": base,
        "library_name": "transformers" if merged or adapter.whole_model else "peft",
        "tags": ["ftwiz", config.method, adapter.type, "trl"],
        "pipeline_tag": "text-generation",
    }
    if not config.data.path.startswith(("/", ".", "~", "ftwiz:")):
        meta["datasets"] = [config.data.path]
    what = {
        "full": "a full fine-tune",
        "freeze": f"a fine-tune of the last {adapter.trainable_layers} layers",
        "lora": f"a LoRA adapter (r={adapter.r}, alpha={adapter.lora_alpha:g})",
        "qlora": f"a QLoRA adapter (r={adapter.r}, alpha={adapter.lora_alpha:g}, 4-bit {config.quant.type} base)",
        "ia3": "an IA3 adapter",
        "prompt_tuning": f"a prompt-tuning adapter ({adapter.num_virtual_tokens} virtual tokens)",
        "prefix_tuning": f"a prefix-tuning adapter ({adapter.num_virtual_tokens} virtual tokens)",
    }[adapter.type]
    if merged and not adapter.whole_model:
        what += ", merged into the base weights"
    train = config.train
    rows = [
        ("method", config.method),
        ("adapter", adapter.type),
        (
            "target modules",
            adapter.target_modules if isinstance(adapter.target_modules, str) else ", ".join(adapter.target_modules),
        ),
        ("learning rate", f"{train.learning_rate:g}"),
        ("scheduler", train.lr_scheduler_type),
        ("micro-batch x accumulation", f"{train.per_device_train_batch_size} x {train.gradient_accumulation_steps}"),
        ("sequence length", str(config.data.max_length)),
        ("steps", str(final.get("steps", status.get("step", "?")))),
        ("optimizer", train.optim),
        ("seed", str(train.seed)),
    ]
    results = []
    if final.get("eval_loss_before") is not None and final.get("eval_loss") is not None:
        results.append(f"- eval loss: {final['eval_loss_before']:.4f} before training, {final['eval_loss']:.4f} after")
    if final.get("train_loss") is not None:
        results.append(f"- mean training loss: {final['train_loss']:.4f}")
    usage = (
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")'
        if merged or adapter.whole_model
        else f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id}")  # loads {base} and the adapter'
    )
    importer = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer"
        if merged or adapter.whole_model
        else "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer"
    )
    trainer = {"dpo": "DPOTrainer", "orpo": "ORPOTrainer", "kto": "KTOTrainer"}.get(config.method, "SFTTrainer")
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n"
        f"# {repo_id.split('/')[-1]}\n\n"
        f"{what.capitalize()} of [{base}](https://huggingface.co/{base}), trained with "
        f"ftwiz {__version__} (TRL {trainer}{'' if adapter.whole_model else ' + PEFT'}) "
        f"on `{config.data.path}`.\n\n"
        f"## Training\n\n| setting | value |\n| --- | --- |\n{table}\n\n"
        + ("## Results\n\n" + "\n".join(results) + "\n\n" if results else "")
        + f'## Use\n\n```python\n{importer}\n\n{usage}\ntokenizer = AutoTokenizer.from_pretrained("{repo_id}")\n```\n'
    )
