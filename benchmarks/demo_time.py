"""Time the offline demo end to end (`ftwiz --preset tiny-demo --headless`) and print a table.

The target (issue 2): under a minute on 2 CPU cores after set-up, eval loss down at least 20%.

    .venv/bin/python benchmarks/demo_time.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(runs_dir: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ftwiz", "--preset", "tiny-demo", "--headless", "--set", f"output.runs_dir={runs_dir}"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in records if r["kind"] == "eval"]
    tps = [r["tokens_per_second"] for r in records if r["kind"] == "train" and r.get("tokens_per_second")]
    status = json.loads((run_dir / "status.json").read_text())
    return {
        "exit": proc.returncode,
        "wall_s": wall,
        "train_s": status["final"].get("train_runtime"),
        "eval_before": evals[0],
        "eval_after": evals[-1],
        "tokens_per_s": sorted(tps)[len(tps) // 2] if tps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        f"# tiny-demo on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print("| run | exit | wall (s) | train (s) | eval loss before | after | change | median tokens/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            r = one_run(Path(tmp))
            change = 100 * (r["eval_after"] - r["eval_before"]) / r["eval_before"]
            print(
                f"| {i + 1} | {r['exit']} | {r['wall_s']:.1f} | {r['train_s'] or 0:.1f} | {r['eval_before']:.3f} | "
                f"{r['eval_after']:.3f} | {change:+.0f}% | {r['tokens_per_s'] or 0:,.0f} |"
            )


if __name__ == "__main__":
    main()
