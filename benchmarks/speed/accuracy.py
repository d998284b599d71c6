"""Speed estimates beside published single-GPU fine-tuning throughput: per case, the error, then the median.

    PYTHONPATH=src .venv/bin/python benchmarks/speed/accuracy.py [--json]

Reads measurements.yaml (each entry cites its source, settings and the published number), builds the
TrainSetup each source describes and calls `estimate_speed` with the catalog card's peak TFLOP/s. Models
resolve like `ftwiz inspect` (catalog, cache, local): configs here under configs/ first, then those of
benchmarks/memory/configs/. Counted in the summary: Hugging Face-stack LoRA / Q-LoRA rows (`counted`);
torchtune rows and full fine-tuning are shown but not counted (see README.md here).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ftwiz.hardware.gpus import CATALOG
from ftwiz.models.resolve import resolve_model
from ftwiz.models.spec import ModelSpec, spec_from_config
from ftwiz.plan import speed
from ftwiz.plan.memory import TrainSetup

HERE = Path(__file__).resolve().parent
CONFIG_DIRS = (HERE / "configs", HERE.parent / "memory" / "configs")


def load_cases(path: Path = HERE / "measurements.yaml") -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())


def model_ref(model_id: str) -> str:
    """A local config for models the catalog does not ship, else the catalog/cache id."""
    name = model_id.replace("/", "--") + ".json"
    for folder in CONFIG_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return model_id


def spec_for(model_id: str) -> ModelSpec:
    config = dict(resolve_model(model_ref(model_id)).config)
    if config.get("model_type") == "qwen":  # Qwen v1: w1 and w2 are each intermediate_size // 2 wide
        config["intermediate_size"] = config["intermediate_size"] // 2
    return spec_from_config(config)


def setup_for(case: dict[str, Any]) -> TrainSetup:
    method = case["method"]
    targets = case.get("targets")
    return TrainSetup(
        adapter="qlora" if method == "qlora" else method,
        rank=case.get("rank") or 16,
        targets=tuple(targets) if isinstance(targets, list) else None,
        batch_size=case.get("batch_size") or 1,
        seq_len=case["seq_len"],
        gradient_checkpointing=case.get("gradient_checkpointing") is not False,
        attn_implementation="eager" if case.get("attention") == "eager" else "sdpa",
    )


def tflops(case: dict[str, Any]) -> float:
    return CATALOG[case["gpu"].lower()].tflops


def evaluate(cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per case: the published and estimated tokens/s and the signed error in percent."""
    rows = []
    for case in cases:
        spec, setup = spec_for(case["model"]), setup_for(case)
        card = CATALOG[case["gpu"].lower()]
        est = speed.estimate_speed(
            spec, setup, card.tflops, grad_accum=case.get("grad_accum") or 1, bandwidth_gbs=card.bandwidth_gbs
        )
        published = float(case["tokens_per_second"])
        rows.append(
            {
                "id": case["id"],
                "model": case["model"],
                "method": case["method"],
                "gpu": case["gpu"],
                "batch_size": setup.batch_size,
                "seq_len": setup.seq_len,
                "published": published,
                "estimate": round(est.tokens_per_second, 1),
                "error": round(100 * (est.tokens_per_second - published) / published, 1),
                "counted": counted(case),
            }
        )
    return rows


def counted(case: dict[str, Any]) -> bool:
    """HF-stack LoRA/Q-LoRA rows. torchtune's rows imply more than the card's peak FLOP/s under this FLOPs
    count (A6000 LoRA: 1.4x), and full fine-tuning at small steps is dominated by the optimizer update,
    which speed.py does not model."""
    return case.get("library") == "hf" and case["method"] in ("lora", "qlora")


def median_abs_error(rows: list[dict[str, Any]]) -> float:
    return round(statistics.median(abs(r["error"]) for r in rows), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help='print {"rows": [...], "median_abs_error": x}')
    args = parser.parse_args()
    cases = load_cases()
    rows = evaluate(cases)
    kept = [r for r in rows if r["counted"]]
    if args.json:
        print(json.dumps({"rows": rows, "median_abs_error": median_abs_error(kept)}, indent=2))
        return
    print("| id | model | method | gpu | b x seq | published tok/s | estimate tok/s | error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        flag = "" if r["counted"] else " (not counted)"
        print(
            f"| {r['id']} | {r['model']} | {r['method']} | {r['gpu']} | {r['batch_size']} x {r['seq_len']} | "
            f"{r['published']:,.0f} | {r['estimate']:,.0f} | {r['error']:+.1f}%{flag} |"
        )
    by_method = {m: [r for r in kept if r["method"] == m] for m in ("lora", "qlora")}
    parts = ", ".join(f"{m} {median_abs_error(rs)}% ({len(rs)})" for m, rs in by_method.items() if rs)
    print(
        f"\n{len(kept)} counted rows: median |error| {median_abs_error(kept)}% ({parts}); "
        f"all {len(rows)} rows: {median_abs_error(rows)}%"
    )


if __name__ == "__main__":
    main()
