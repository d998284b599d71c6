"""Inspect a model's real module tree on the meta device: no weights downloaded, no RAM spent on them.

The result (plain JSON) lists the linear-like leaves grouped by name, the fused 3-D expert parameters of MoE
models, and the target sets with their trainable-parameter cost. It is cached by a hash of the config, so the
planner and the wizard read it back without importing torch (`models/cache.py`).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

from ftwiz.models.spec import spec_from_config, text_config
from ftwiz.models.targets import classify, in_tower, matches, resolve_targets

TARGET_SETS = ("attention_qv", "attention", "all_linear")
INSPECTION_VERSION = 2


def build_meta_model(config: Mapping[str, Any], *, trust_remote_code: bool = False, source: str | None = None) -> Any:
    """The model class transformers builds for this config, on the meta device."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    if config.get("auto_map") and trust_remote_code and source:
        hf_config = AutoConfig.from_pretrained(source, trust_remote_code=True)
    else:
        mapping = transformers.models.auto.configuration_auto.CONFIG_MAPPING
        # A deep copy: transformers standardises nested dicts (rope_scaling) in place.
        hf_config = mapping[config["model_type"]].from_dict(copy.deepcopy(dict(config)))
    logging.getLogger("transformers").setLevel(logging.ERROR)  # token-id range warnings on tiny test configs
    with torch.device("meta"):
        try:
            return AutoModelForCausalLM.from_config(hf_config, trust_remote_code=trust_remote_code)
        except ValueError:
            # Multimodal configs (Llava, Qwen2-VL, Gemma 3...) map to image-text-to-text classes.
            from transformers import AutoModelForImageTextToText

            return AutoModelForImageTextToText.from_config(hf_config, trust_remote_code=trust_remote_code)


def inspect_model(model: Any, *, rank: int = 16) -> dict[str, Any]:
    """Groups, fused parameters, target sets and their trainable-parameter counts at `rank`."""
    groups, shapes, excluded, all_linear = _linear_groups(model)
    fused = _fused_parameters(model)
    targets, trainable = _target_sets(all_linear, shapes, rank)
    params_total = sum(p.numel() for p in model.parameters())  # shared (tied) tensors once
    embedding = model.get_input_embeddings()
    config = model.config.to_dict()
    text = text_config(config)
    return {
        "version": INSPECTION_VERSION,
        "model_type": config.get("model_type"),
        "architecture": type(model).__name__,
        "params_total": params_total,
        "params_embedding": embedding.weight.numel() if embedding is not None else 0,
        "layers": text.get("num_hidden_layers") or text.get("n_layer"),
        "hidden_size": text.get("hidden_size") or text.get("n_embd"),
        "vocab_size": text.get("vocab_size"),
        "linear_groups": sorted(groups, key=lambda g: (_KIND_ORDER.get(g["kind"], 99), g["name"])),
        "fused_parameters": fused,
        "excluded_modules": sorted(excluded),
        "targets": targets,
        "target_parameters": [f["name"] for f in fused],
        "trainable_params": trainable,
        "rank": rank,
    }


def _linear_groups(model: Any) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]], set[str], list[str]]:
    """The linear-like leaves outside vision/audio towers grouped by (name, in, out); every leaf's shape; the
    towers left out; and every linear leaf's name (towers included: PEFT's names to resolve sets against)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    # bitsandbytes' Linear4bit/Linear8bitLt subclass nn.Linear, so a quantized model is covered too (without
    # importing bitsandbytes, which costs seconds).
    linear_kinds: tuple[type, ...] = (torch.nn.Linear, Conv1D)
    groups: dict[tuple[str, int, int], dict[str, Any]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    excluded: set[str] = set()
    all_linear: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, linear_kinds):
            continue
        all_linear.append(name)
        if tower := in_tower(name):
            excluded.add(tower)
            continue
        if isinstance(module, Conv1D):  # GPT-2 stores (in, out)
            fan_in, fan_out = module.weight.shape
        else:
            fan_in, fan_out = module.in_features, module.out_features
        shapes[name] = (fan_in, fan_out)
        suffix = name.rsplit(".", 1)[-1]
        group = groups.setdefault(
            (suffix, fan_in, fan_out),
            {"name": suffix, "count": 0, "in_features": fan_in, "out_features": fan_out, "params": 0},
        )
        group.setdefault("kind", classify(name))
        group["count"] += 1
        group["params"] += sum(p.numel() for p in module.parameters(recurse=False))
    return list(groups.values()), shapes, excluded, all_linear


def _fused_parameters(model: Any) -> list[dict[str, Any]]:
    """MoE experts held as 3-D parameters (not Linear modules), grouped by name and shape."""
    fused: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if param.ndim == 3 and not in_tower(name):
            suffix = ".".join(name.split(".")[-2:])  # e.g. experts.gate_up_proj
            entry = fused.setdefault(
                (suffix, tuple(param.shape)),
                {"name": suffix, "shape": list(param.shape), "count": 0, "kind": "moe_experts"},
            )
            entry["count"] += 1
    return list(fused.values())


def _target_sets(
    all_linear: list[str], shapes: dict[str, tuple[int, int]], rank: int
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each target set's module names, and its LoRA parameters at `rank`."""
    targets: dict[str, list[str]] = {}
    trainable: dict[str, int] = {}
    for target_set in TARGET_SETS:
        try:
            names = resolve_targets(target_set, all_linear)
        except Exception:  # a set this model has no module for (e.g. no separate q/v)
            names = []
        targets[target_set] = names
        trainable[target_set] = sum(
            rank * (fan_in + fan_out)
            for module, (fan_in, fan_out) in shapes.items()
            if any(matches(t, module) for t in names)
        )
    return targets, trainable


_KIND_ORDER = {
    k: i
    for i, k in enumerate(
        [
            "attention_q",
            "attention_k",
            "attention_v",
            "attention_qkv",
            "attention_o",
            "mlp_gate",
            "mlp_up",
            "mlp_gate_up",
            "mlp_down",
            "router",
            "other",
            "lm_head",
        ]
    )
}


def rescale(result: dict[str, Any], rank: int) -> dict[str, Any]:
    """The same inspection at another LoRA rank (trainable counts are linear in r)."""
    base = result["rank"]
    return {
        **result,
        "rank": rank,
        "trainable_params": {k: v * rank // base for k, v in result["trainable_params"].items()},
    }


def inspect_reference(
    ref: str, *, rank: int = 16, trust_remote_code: bool = False, isolate: bool = False
) -> dict[str, Any]:
    """Resolve `ref`, then the shipped or cached inspection, else build on the meta device (and cache it).

    `isolate=True` builds in a subprocess (`ftwiz inspect --json`), so the caller never imports torch: the
    planner's promise for catalog and cached models, and the wizard's main thread.
    """
    from ftwiz.models import cache
    from ftwiz.models.resolve import ResolvedModel, catalog_file, resolve_model

    resolved: ResolvedModel = resolve_model(ref, trust_remote_code=trust_remote_code)
    key = cache.config_key(resolved.config, INSPECTION_VERSION)
    shipped = catalog_file(ref).with_suffix(".inspect.json")
    result = None
    if shipped.is_file():
        candidate = json.loads(shipped.read_text(encoding="utf-8"))
        result = candidate if candidate.get("config_key") == key else None
    result = result or cache.load(key)
    if result is None and isolate:
        return _inspect_in_subprocess(ref, rank, trust_remote_code)
    if result is None:
        source = str(resolved.path) if resolved.path else None
        model = build_meta_model(resolved.config, trust_remote_code=trust_remote_code, source=source)
        result = {**inspect_model(model, rank=16), "config_key": key}
        cache.save(key, result)
    spec = spec_from_config(resolved.config).to_dict()
    return {**rescale(result, rank), "model": ref, "source": resolved.source, "notes": resolved.notes, "spec": spec}


def _inspect_in_subprocess(ref: str, rank: int, trust_remote_code: bool) -> dict[str, Any]:
    import subprocess
    import sys

    from ftwiz.errors import BadInput, FtwizError

    cmd = [sys.executable, "-m", "ftwiz", "inspect", "--model", ref, "--rank", str(rank), "--json"]
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return json.loads(proc.stdout)
    message = proc.stderr.strip().removeprefix("ftwiz: error: ") or f"inspecting {ref} failed"
    raise (BadInput if proc.returncode == 2 else FtwizError)(message)
