"""The planner's estimate beside a measurement of ftwiz's own training code on a CUDA GPU (run it as run.sh).

    bash benchmarks/gpu/run.sh [--out DIR] [--budget SECONDS] [--only NAME,...]
    bash benchmarks/gpu/run.sh --smoke [--out DIR]     # the two smallest rows, shrunk, on the CPU

Each row is one catalog model's config.json with random-initialised bf16 weights (made on the GPU and saved
once per architecture, deleted after its last row), trained for 4 optimizer steps through the worker's own
construction (benchmarks/harness.py: `recipe.build_trainer`, `trainer.train()`), one subprocess per row so every
peak starts from nothing. Recorded per row: `torch.cuda.max_memory_allocated` (measured_bytes, against the
estimate without the CUDA context and allocator slack: estimate_bytes), `max_memory_reserved`, NVML's peak of
the device's used memory above the process's start (against the estimate's total: estimate_total_bytes), and
tokens/s over the steps after the first (against the planner's speed estimate for this card). Then the
recommender's choice for three models on this card (at 2,048 tokens) runs the same way: `oom` says whether it
ran out of memory. Writes DIR/results.json and DIR/RESULTS.md (DIR: benchmarks/gpu, or benchmarks/gpu/smoke).

Rows run in order until the time budget (default 450 s) would be passed; the rest are recorded as skipped, so
the whole kit stays under 8 minutes on one H100/H200-class card. Nothing is downloaded: no weights, no
tokenizer (the tiny demo's), no packages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

GIB = 1024**3
MIB = 1024**2
STEPS = 4
RECOMMEND_SEQ = 2048
RECOMMEND_MODELS = (
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
)
QLORA = {"adapter.type": "qlora", "quant.bits": 4}
LORA = {"adapter.type": "lora"}
NO_CKPT = {"train.gradient_checkpointing": False}


@dataclass
class Row:
    """One measurement: a catalog model, the RunConfig keys that differ from the defaults, the micro-batch."""

    name: str
    model: str  # a catalog id (src/ftwiz/models/catalog)
    keys: dict[str, Any]
    batch: int
    seq: int
    recommended: bool = False
    architecture: dict[str, Any] = field(default_factory=dict)  # filled from the catalog (shrunk in --smoke)


# Smallest first: --smoke takes the first two.
ROWS = [
    Row("qwen2.5-0.5b-full", "Qwen/Qwen2.5-0.5B-Instruct", {"adapter.type": "full"}, 4, 1024),
    Row("llama3.2-1b-lora-ckpt", "meta-llama/Llama-3.2-1B-Instruct", LORA, 4, 2048),
    Row("llama3.2-1b-lora-no-ckpt", "meta-llama/Llama-3.2-1B-Instruct", {**LORA, **NO_CKPT}, 4, 2048),
    Row("llama3.2-3b-qlora-b1", "meta-llama/Llama-3.2-3B-Instruct", QLORA, 1, 2048),
    Row("llama3.2-3b-qlora-b8", "meta-llama/Llama-3.2-3B-Instruct", QLORA, 8, 2048),
    Row("phi-2-qlora", "microsoft/phi-2", QLORA, 4, 2048),
    Row("mistral-7b-lora-4096", "mistralai/Mistral-7B-Instruct-v0.3", LORA, 1, 4096),
    Row("mistral-7b-qlora-4096", "mistralai/Mistral-7B-Instruct-v0.3", QLORA, 1, 4096),
    Row("llama3.1-8b-qlora-2048", "meta-llama/Llama-3.1-8B-Instruct", QLORA, 2, 2048),
]


def catalog_config(model: str) -> dict[str, Any]:
    from ftwiz.models.resolve import catalog_file

    return json.loads(catalog_file(model).read_text())


def shrink(architecture: dict[str, Any]) -> dict[str, Any]:
    """The same family at CPU size: 2 layers, hidden 256 (64-wide heads), the real vocabulary (the loss term's
    shape), as the smoke test needs it."""
    a = dict(architecture)
    heads = 4
    kv = a.get("num_key_value_heads", a.get("num_attention_heads", heads))
    a.update(
        num_hidden_layers=2,
        hidden_size=256,
        intermediate_size=688,
        num_attention_heads=heads,
        num_key_value_heads=heads if kv >= a.get("num_attention_heads", heads) else 2,
        head_dim=64,
        max_position_embeddings=min(a.get("max_position_embeddings", 4096), 4096),
    )
    a.pop("layer_types", None)  # per-layer lists sized for the real depth
    return a


def recommended_rows(card: Any) -> list[Row]:
    """The recommender's choice (at RECOMMEND_SEQ tokens) for each of RECOMMEND_MODELS on this card."""
    from ftwiz.models.resolve import catalog_file
    from ftwiz.models.spec import spec_from_config
    from ftwiz.plan.choices import Knobs
    from ftwiz.plan.estimate import config_changes
    from ftwiz.plan.recommend import recommend

    rows = []
    for model in RECOMMEND_MODELS:
        path = catalog_file(model)
        spec = spec_from_config(json.loads(path.read_text()))
        inspection = json.loads(path.with_suffix(".inspect.json").read_text())
        plan = recommend(spec, inspection, card, Knobs(seq_len=RECOMMEND_SEQ))
        if not plan.best.fits:
            continue
        keys = {k: v for k, v in config_changes(plan).items() if not k.startswith("distributed.")}
        keys.pop("train.learning_rate", None)
        keys["train.gradient_accumulation_steps"] = 1  # a micro-batch's memory; accumulation only multiplies time
        if keys.get("adapter.type") == "qlora":
            keys["quant.bits"] = 4
        s = plan.best.setup
        name = f"recommended {model.split('/')[1]}: {s.adapter} b{s.batch_size}"
        rows.append(Row(name, model, keys, s.batch_size, s.seq_len, recommended=True))
    return rows


# -- one row, in its own process ----------------------------------------------------------------------------


def child(spec_path: Path) -> int:
    """Measure one row (the parent's JSON spec) and write its result next to it."""
    spec = json.loads(spec_path.read_text())
    result_path = spec_path.with_suffix(".result.json")
    smoke = spec["smoke"]
    nvml = None
    if not smoke:
        from harness import NvmlPeak

        with contextlib.suppress(Exception):  # NVML is a courtesy: no peak when the driver hides it
            nvml = NvmlPeak(int(os.environ.get("FTWIZ_NVML_INDEX", "0")))
    import torch
    from harness import Case, make_model, measure_cpu, measure_gpu, model_folder

    work = Path(spec["work"])
    case = Case(spec["name"], spec["architecture"], spec["keys"], data="text")
    folder = model_folder(work, case.architecture)
    if not smoke:
        make_model(folder, case.architecture, device="cuda", dtype=torch.bfloat16)
        if nvml is not None:  # the model's creation is not the run's: start the window after it
            torch.cuda.empty_cache()
            nvml.baseline = nvml.peak = nvml.used()
    out: dict[str, Any] = {"name": case.name, "oom": False, "error": None}
    extra: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            if smoke:
                m = measure_cpu(case, work, spec["batch"], spec["seq"], steps=2)
            else:
                m = measure_gpu(case, work, spec["batch"], spec["seq"], STEPS, nvml, extra)
        out.update(_row_result(m, spec, extra))
    except torch.cuda.OutOfMemoryError as exc:
        out.update(oom=True, error=str(exc).splitlines()[0], **extra)
        out["measured_bytes"] = extra.get("allocated_bytes")
    except Exception as exc:  # a row that breaks is a finding, not the end of the kit
        out.update(error=f"{type(exc).__name__}: {exc}".splitlines()[0], **extra)
    out["row_seconds"] = round(time.perf_counter() - started, 1)
    result_path.write_text(json.dumps(out, indent=2))
    return 0


def _row_result(m: Any, spec: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    memory = m.estimate.memory if m.estimate is not None else None
    result: dict[str, Any] = {
        "measured_bytes": m.peak_bytes,
        "estimate_bytes": memory.allocated if memory else None,
        "estimate_total_bytes": memory.total if memory else None,
        "logits_bytes": memory.logits if memory else None,
        "breakdown": memory.to_dict() if memory else None,
        "stack": m.estimate.stack if m.estimate is not None else None,
        "adapter": m.config.adapter.type,
        "gradient_checkpointing": m.config.train.gradient_checkpointing,
        **extra,
    }
    if memory:
        result["error_vs_allocated"] = round(memory.allocated / m.peak_bytes - 1, 4)
        if extra.get("nvml_peak_bytes"):
            result["error_vs_nvml"] = round(memory.total / extra["nvml_peak_bytes"] - 1, 4)
    step = extra.get("seconds_per_step")
    if step:
        result["tokens_per_second"] = round(spec["batch"] * spec["seq"] / step, 1)
    speed = _speed_estimate(m.config, spec)
    if speed is not None:
        result["estimate_tokens_per_second"] = round(speed, 1)
    return result


def _speed_estimate(config: Any, spec: dict[str, Any]) -> float | None:
    """The planner's tokens/s for this config on this card (None on the CPU)."""
    if spec["smoke"] or spec.get("card") is None:
        return None
    from ftwiz.hardware.gpus import GpuChoice, local_card
    from ftwiz.models.inspect import inspect_reference
    from ftwiz.plan.estimate import estimate
    from ftwiz.train import build

    inspection = inspect_reference(build.model_path(config), rank=config.adapter.r)
    planned = estimate(config, inspection, GpuChoice(local_card(*spec["card"]), 1))
    return planned.speed.tokens_per_second if planned.speed else None


# -- the table ----------------------------------------------------------------------------------------------


def gpu_facts(smoke: bool) -> dict[str, Any]:
    """The card's name and memory, the driver, and the installed versions (ftwiz's own stack reader)."""
    from ftwiz.hardware.stack import installed_stack

    stack = installed_stack()
    facts: dict[str, Any] = {"name": "cpu (smoke)" if smoke else None, "versions": dict(stack.versions)}
    if not smoke:
        from ftwiz.hardware.probe import probe_hardware

        hw = probe_hardware()
        if hw.gpus:
            g = hw.gpus[0]
            facts.update(name=g.name, memory_bytes=g.total_bytes, bf16=g.bf16, count=len(hw.gpus))
        facts.update(driver=hw.driver_version, cuda=hw.cuda_version)
    return facts


def card_label(facts: dict[str, Any]) -> Any:
    """The GpuChoice the planner uses for this machine's first card (None on the CPU)."""
    from ftwiz.hardware.gpus import GpuChoice, local_card

    if not facts.get("memory_bytes"):
        return None
    return GpuChoice(local_card(facts["name"], facts["memory_bytes"], facts.get("bf16", True)), 1)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import statistics

    errors = [r["error_vs_allocated"] for r in rows if r.get("error_vs_allocated") is not None]
    return {
        "median_abs_error": round(statistics.median(abs(e) for e in errors), 4) if errors else None,
        "worst_under": round(min(errors), 4) if errors else None,
        "worst_over": round(max(errors), 4) if errors else None,
    }


def markdown(results: dict[str, Any]) -> str:
    def mib(n: Any) -> str:
        return "—" if not n else f"{n / MIB:,.0f}"

    def pct(x: Any) -> str:
        return "—" if x is None else f"{x:+.1%}"

    gpu = results["gpu"]
    versions = ", ".join(f"{k} {v}" for k, v in (gpu.get("versions") or {}).items() if v)
    lines = [
        f"# GPU kit results: {gpu.get('name')}",
        "",
        f"{time.strftime('%Y-%m-%d', time.gmtime(results['finished']))}; {versions or 'versions unknown'}; "
        f"{results['seconds']:.0f} s in all. Written by `benchmarks/gpu/run.sh`.",
        "",
        "| row | b x seq | allocated MiB | estimate MiB | error | reserved MiB | NVML MiB | estimate total MiB | "
        "tokens/s | estimate tokens/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["rows"] + results["recommended"]:
        if r.get("skipped"):
            lines.append(f"| {r['name']} | {r['batch']} x {r['seq']} | skipped: {r['skipped']} | | | | | | | |")
            continue
        note = " (OOM)" if r.get("oom") else (f" ({r['error']})" if r.get("error") else "")
        lines.append(
            f"| {r['name']}{note} | {r['batch']} x {r['seq']} | {mib(r.get('measured_bytes'))} | "
            f"{mib(r.get('estimate_bytes'))} | {pct(r.get('error_vs_allocated'))} | {mib(r.get('reserved_bytes'))} | "
            f"{mib(r.get('nvml_peak_bytes'))} | {mib(r.get('estimate_total_bytes'))} | "
            f"{r.get('tokens_per_second') or '—'} | {r.get('estimate_tokens_per_second') or '—'} |"
        )
    s = results["summary"]
    lines += ["", f"median |error| vs max_memory_allocated: {pct(s['median_abs_error'])}, worst under "]
    lines[-1] += f"{pct(s['worst_under'])}, worst over {pct(s['worst_over'])}."
    ooms = [r["name"] for r in results["recommended"] if r.get("oom")]
    if results["recommended"]:
        lines.append(f"Recommended choices that ran out of memory: {', '.join(ooms) if ooms else 'none'}.")
    return "\n".join(lines) + "\n"


# -- the parent -----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the two smallest rows, shrunk, on the CPU")
    parser.add_argument("--out", type=Path, help="where results.json and RESULTS.md go")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds; rows that would pass it are skipped")
    parser.add_argument("--only", help="comma-separated row names")
    parser.add_argument("--work", type=Path, help="scratch folder for models and runs (default: a temp folder)")
    parser.add_argument("--row", type=Path, help=argparse.SUPPRESS)  # internal: measure one row spec
    args = parser.parse_args()
    if args.row:
        return child(args.row)
    out = args.out or (HERE / "smoke" if args.smoke else HERE)
    started = time.time()
    facts = gpu_facts(args.smoke)
    if not args.smoke and not facts.get("memory_bytes"):
        print("no CUDA GPU found (NVML): run with --smoke on a CPU", file=sys.stderr)
        return 2
    card = card_label(facts)
    rows = ROWS[:2] if args.smoke else list(ROWS)
    for row in rows:
        arch = catalog_config(row.model)
        row.architecture = shrink(arch) if args.smoke else arch
        if args.smoke:
            row.batch, row.seq = 1, 64
    recommended = [] if card is None else recommended_rows(card)
    for row in recommended:
        row.architecture = catalog_config(row.model)
    if args.only:
        wanted = set(args.only.split(","))
        rows = [r for r in rows if r.name in wanted]
        recommended = [r for r in recommended if r.name in wanted]
    with tempfile.TemporaryDirectory(prefix="ftwiz-gpu-kit-", dir=args.work) as tmp:
        results = run_rows(rows, recommended, Path(tmp), args, card, started)
    results.update(gpu=facts, finished=time.time(), seconds=time.time() - started)
    results["summary"] = summary(results["rows"] + results["recommended"])
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "results.json", json.dumps(results, indent=2) + "\n")
    _write(out / "RESULTS.md", markdown(results))
    print(markdown(results))
    return 0


def run_rows(
    rows: list[Row], recommended: list[Row], work: Path, args: argparse.Namespace, card: Any, started: float
) -> dict[str, Any]:
    """Each row in its own process, in order, deleting a model once no later row needs it."""
    from harness import model_folder

    every = rows + recommended
    done: dict[str, list[dict[str, Any]]] = {"rows": [], "recommended": []}
    slowest = 0.0
    for i, row in enumerate(every):
        left = args.budget - (time.time() - started)
        entry: dict[str, Any] = {"name": row.name, "model": row.model, "batch": row.batch, "seq": row.seq}
        if left < max(slowest, 20.0):
            entry["skipped"] = f"time budget ({args.budget:.0f} s)"
        else:
            spec = {
                **asdict(row),
                "work": str(work),
                "smoke": args.smoke,
                "card": None if card is None else [card.gpu.name, card.gpu.memory_bytes, card.gpu.bf16],
            }
            spec_path = work / f"row-{i}.json"
            spec_path.write_text(json.dumps(spec))
            t0 = time.time()
            try:
                subprocess.run([sys.executable, __file__, "--row", str(spec_path)], check=False, timeout=max(left, 1))
                result_path = spec_path.with_suffix(".result.json")
                if result_path.is_file():
                    entry.update(json.loads(result_path.read_text()))
                else:
                    entry["error"] = "the row's process died without a result (see its output above)"
            except subprocess.TimeoutExpired:
                entry["skipped"] = f"time budget ({args.budget:.0f} s), killed mid-row"
            slowest = max(slowest, time.time() - t0)
        done["recommended" if row.recommended else "rows"].append(entry)
        folder = model_folder(work, row.architecture)
        if not any(r.architecture == row.architecture for r in every[i + 1 :]):
            shutil.rmtree(folder, ignore_errors=True)
    return done


def _write(path: Path, text: str) -> None:
    """Atomic: a kit killed mid-write leaves the previous results whole."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
