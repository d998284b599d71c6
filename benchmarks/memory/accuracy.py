"""Estimates beside published peak-memory measurements: per case, the error, then median and worst.

    .venv/bin/python benchmarks/memory/accuracy.py [--all] [--loss full|fused]

Reads measurements.yaml (each entry cites its source, settings and metric). The metric decides what is
compared: `max_memory_allocated` against the estimate without overhead, `max_memory_reserved` against the
estimate without the CUDA context, nvidia-smi (or unknown) against the whole estimate. Models resolve like
`ftwiz inspect` (catalog, cache, local); cases whose model cannot be resolved offline are listed as skipped.
By default the summary counts single-GPU Hugging Face-stack measurements (`--all` adds the others).
Settings a source does not state take the common defaults: gradient checkpointing on, LoRA dropout 0.05.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import yaml

from ftwiz.errors import FtwizError
from ftwiz.models.inspect import inspect_reference
from ftwiz.models.resolve import resolve_model
from ftwiz.models.spec import spec_from_config
from ftwiz.plan.memory import CUDA_CONTEXT, GIB, TrainSetup, estimate_memory

HERE = Path(__file__).resolve().parent


def model_ref(model_id: str) -> str:
    """The catalog/cache id, or the config under configs/ for models the catalog does not ship."""
    local = HERE / "configs" / (model_id.replace("/", "--") + ".json")
    return str(local) if local.is_file() else model_id


def distribution(case: dict) -> dict:
    """Strategy, world size and CPU offload of a case, from its id and notes (DDP for other multi-GPU runs)."""
    tag = f"{case['id']} {case.get('notes') or ''}".lower()
    gpus = case.get("gpus") or 1
    if gpus == 1 and "zero-3" not in tag and "ds-z3" not in tag:
        return {"strategy": "single", "world_size": 1}
    if "fsdp" in tag:
        strategy = "fsdp"
    elif any(k in tag for k in ("zero-3", "zero3", "dsz3", "ds-z3")):
        strategy = "deepspeed-zero3"
    else:
        strategy = "ddp"
    offload = "offload" in case["id"] and "no-offload" not in case["id"]
    return {"strategy": strategy, "world_size": gpus, "cpu_offload": offload}


def setup_for(case: dict, loss: str = "full") -> TrainSetup:
    quant = case.get("quant") or "none"
    method = case["method"]
    targets = case.get("targets")
    return TrainSetup(
        adapter="qlora" if method == "qlora" or quant in ("nf4", "fp4") else method,
        rank=case.get("rank") or 16,
        targets=tuple(targets) if isinstance(targets, list) else None,
        quant_bits=8 if quant == "8bit" else None,
        double_quant=case.get("double_quant") is not False,
        dtype={"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(case.get("dtype") or "bf16", "bfloat16"),
        batch_size=case.get("batch_size") or 1,
        seq_len=case.get("seq_len") or 512,
        # Not stated: on, the default of TRL's SFTConfig, LLaMA-Factory and Unsloth.
        gradient_checkpointing=case.get("gradient_checkpointing") is not False,
        optimizer=case.get("optimizer") or "adamw_torch",
        attn_implementation=case.get("attention") or "sdpa",
        lora_dropout=case.get("lora_dropout", 0.05) or 0.0,
        use_dora=case.get("variant") == "dora",
        loss=loss,  # type: ignore[arg-type]
        **distribution(case),
    )


def compared(total: int, overhead: int, metric: str) -> int:
    if metric == "max_memory_allocated":
        return total - overhead
    if metric == "max_memory_reserved":
        return total - CUDA_CONTEXT
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="count non-HF-stack measurements in the summary too")
    parser.add_argument(
        "--loss",
        choices=("full", "fused"),
        default="full",
        help="the loss path to estimate with: full (default: these 2023-2024 stacks built the whole logits) or "
        "fused (TRL 1.16's fused LM head, to see what the same runs would need today)",
    )
    args = parser.parse_args()
    cases = yaml.safe_load((HERE / "measurements.yaml").read_text())
    print("| id | model | method | b x seq | ckpt | metric | measured GiB | estimate GiB | error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    errors, skipped = [], []
    for case in cases:
        try:
            ref = model_ref(case["model"])
            spec = spec_from_config(resolve_model(ref).config)
            inspection = inspect_reference(ref)
        except FtwizError as exc:
            skipped.append(f"{case['id']}: {exc.message}")
            continue
        setup = setup_for(case, args.loss)
        mem = estimate_memory(spec, inspection, setup)
        estimate = compared(mem.total, mem.total - mem.allocated, case.get("metric") or "unknown") / GIB
        measured = float(case["peak_gib"])
        error = 100 * (estimate - measured) / measured
        upper = case.get("bound") == "upper"  # "the largest that fits": the real peak is at most this
        # The summary counts single-GPU runs on the Hugging Face stack (LLaMA-Factory trains with it too);
        # multi-GPU sharding (issue 9) and other libraries are shown, and counted only with --all.
        hf_stack = case.get("library") in ("hf", "llama-factory") and (case.get("gpus") or 1) == 1
        counted = (args.all or hf_stack) and not upper
        if counted:
            errors.append(error)
        print(
            f"| {case['id']} | {case['model']} | {setup.adapter} | {setup.batch_size} x {setup.seq_len} | "
            f"{'on' if setup.gradient_checkpointing else 'off'} | {case.get('metric') or 'unknown'} | "
            f"{measured:.2f} | {estimate:.2f} | {error:+.1f}%{'' if counted else ' (not HF, not counted)'} |"
        )
    if errors:
        worst_under = min(errors)
        print(
            f"\n{len(errors)} counted cases: median |error| {statistics.median(abs(e) for e in errors):.1f}%, "
            f"worst {max(errors, key=abs):+.1f}%, worst under-estimate {worst_under:+.1f}%"
        )
    for line in skipped:
        print(f"skipped {line}")


if __name__ == "__main__":
    main()
