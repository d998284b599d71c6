"""The planner's memory estimate beside a measurement of ftwiz's own training code, on this CPU.

    .venv/bin/python benchmarks/memory/measure_cpu.py [--json] [--only NAME,...]

Each row builds a random-initialised model from a config, writes synthetic rows longer than the sequence, and
runs 2 optimizer steps through the worker's own construction (benchmarks/harness.py: `recipe.build_trainer`,
then `trainer.train()`), in fp32 as the CPU trains (QLoRA: bitsandbytes' 4-bit on the CPU, fp32 compute). The
measurement is the peak of live tensor bytes (`LiveTensorBytes`, the CPU analogue of
`torch.cuda.max_memory_allocated`); the estimate is the worker's own (`reports.estimate_run`, what plan.json
says) without the CUDA context and the allocator's slack, which no tensor count sees. On the CPU, TRL's fused LM
head takes its torch fallback (every position, whole fp32 tiles), so each row's logits term is the CPU path's: these
rows check every other term, and the CPU tile arithmetic; the GPU's Triton path is the GPU kit's to measure
(benchmarks/gpu/).

Target (issue 18): median |error| <= 5%, no under-estimate beyond -10%.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import Case, measure_cpu

MIB = 1024**2


def llama(hidden: int, layers: int, vocab: int, inter: int | None = None, heads: int = 8, kv: int = 4, **kw):
    return {
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter or int(hidden * 2.75),
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "vocab_size": vocab,
        "tie_word_embeddings": False,
        "max_position_embeddings": 4096,
        **kw,
    }


def qwen2(hidden: int, layers: int, vocab: int = 151936, **kw):
    return {
        "model_type": "qwen2",
        "hidden_size": hidden,
        "intermediate_size": int(hidden * 5.25),
        "num_hidden_layers": layers,
        "num_attention_heads": kw.pop("heads", 8),
        "num_key_value_heads": kw.pop("kv", 2),
        "vocab_size": vocab,
        "tie_word_embeddings": True,
        "max_position_embeddings": 4096,
        **kw,
    }


LORA = {"adapter.type": "lora"}
NO_CKPT = {"train.gradient_checkpointing": False}
# (case, micro-batch, sequence): about 0.3 TFLOP a step at most, so the table runs in minutes on 2 cores.
CASES: list[tuple[Case, int, int]] = [
    (Case("lora-ckpt", llama(512, 4, 32000), LORA), 2, 512),
    (Case("lora-no-ckpt", llama(512, 4, 32000), {**LORA, **NO_CKPT}), 2, 512),
    (Case("lora-answers-only", llama(512, 4, 32000), {**LORA, **NO_CKPT}, data="chat"), 2, 512),
    (Case("lora-152k-vocab", qwen2(512, 4), LORA), 1, 1024),
    (Case("lora-long-2048", llama(256, 2, 32000), {**LORA, **NO_CKPT}), 1, 2048),
    (Case("lora-packing", llama(512, 4, 32000), {**LORA, "data.packing": True}), 2, 1024),
    (Case("lora-wide-1024", llama(1024, 2, 32000, heads=16, kv=8), {**LORA, **NO_CKPT}), 1, 512),
    (Case("full-no-ckpt", llama(384, 4, 32000), {"adapter.type": "full", **NO_CKPT}), 2, 256),
    (Case("full-ckpt", llama(384, 4, 32000), {"adapter.type": "full"}), 2, 512),
    (Case("qlora-ckpt", llama(768, 4, 32000), {"adapter.type": "qlora", "quant.bits": 4}), 2, 512),
    (Case("qlora-no-ckpt", llama(768, 4, 32000), {"adapter.type": "qlora", "quant.bits": 4, **NO_CKPT}), 2, 512),
    (Case("dpo-lora", llama(512, 4, 32000), {**LORA, "method": "dpo"}, data="preference"), 1, 512),
    # Where the model's own terms outweigh the loss: a 165M-parameter full fine-tune (weights, gradients and AdamW
    # states), and 8 layers of activations over a smaller vocabulary.
    (Case("full-165m", llama(1024, 8, 32000, heads=16, kv=8), {"adapter.type": "full"}), 1, 256),
    (Case("lora-activations-8k", llama(512, 8, 8192), {**LORA, **NO_CKPT}), 4, 512),
    # Where the optimizer step is the peak: a 152k x 256 embedding trained in full, few tokens. torch's AdamW
    # (single-tensor on the CPU) makes two copies of it in its step, after the activations are gone.
    (Case("full-step-152k-vocab", qwen2(256, 2, heads=4, kv=2), {"adapter.type": "full"}), 1, 64),
]


def run(only: set[str] | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ftwiz-measure-") as tmp:
        for case, batch, seq in CASES:
            if only and case.name not in only:
                continue
            started = time.perf_counter()
            m = measure_cpu(case, Path(tmp), batch, seq)
            memory = m.estimate.memory
            estimate = memory.allocated
            rows.append(
                {
                    "name": case.name,
                    "batch": batch,
                    "seq_len": seq,
                    "method": m.config.method,
                    "adapter": m.config.adapter.type,
                    "gradient_checkpointing": m.config.train.gradient_checkpointing,
                    "vocab": case.architecture["vocab_size"],
                    "hidden": case.architecture["hidden_size"],
                    "layers": case.architecture["num_hidden_layers"],
                    "estimate_bytes": estimate,
                    "measured_bytes": m.peak_bytes,
                    "error": round(estimate / m.peak_bytes - 1, 4),
                    "logits_bytes": memory.logits,
                    "breakdown": memory.to_dict(),
                    "loss_path": m.estimate.stack,
                    "step_seconds": round(m.seconds / 2, 2),
                    "row_seconds": round(time.perf_counter() - started, 1),
                }
            )
            del m
            gc.collect()
    return rows


def summary(rows: list[dict]) -> dict:
    errors = [r["error"] for r in rows]
    return {
        "median_abs_error": round(statistics.median(abs(e) for e in errors), 4) if errors else None,
        "worst_under": round(min(errors), 4) if errors else None,
        "worst_over": round(max(errors), 4) if errors else None,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| row | b x seq | vocab | measured MiB | estimate MiB | error | logits term MiB | step s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['batch']} x {r['seq_len']} | {r['vocab']:,} | {r['measured_bytes'] / MIB:,.1f} | "
            f"{r['estimate_bytes'] / MIB:,.1f} | {r['error']:+.1%} | {r['logits_bytes'] / MIB:,.1f} | "
            f"{r['step_seconds']} |"
        )
    s = summary(rows)
    lines.append("")
    lines.append(
        f"{len(rows)} rows: median |error| {s['median_abs_error']:.1%}, worst under-estimate {s['worst_under']:+.1%}, "
        f"worst over-estimate {s['worst_over']:+.1%}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help='print {"rows": [...], ...} instead of a table')
    parser.add_argument("--only", help="comma-separated row names")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # the trainers print their log lines
        rows = run(set(args.only.split(",")) if args.only else None)
    if args.json:
        print(json.dumps({"rows": rows, **summary(rows)}, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
