"""The GPU kit (benchmarks/gpu/run.sh) works before it meets a GPU: its --smoke mode runs the two smallest rows,
shrunk, on the CPU through the same worker code and writes the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_kits_smoke_mode_measures_two_rows_and_writes_results(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu" / "run.sh"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["gpu"]["name"] == "cpu (smoke)" and results["gpu"]["versions"]["trl"]
    rows = results["rows"]
    assert [r["name"] for r in rows] == ["qwen2.5-0.5b-full", "llama3.2-1b-lora-ckpt"]
    for row in rows:
        assert row["error"] is None and not row["oom"], row
        assert row["measured_bytes"] > 0 and row["estimate_bytes"] > 0
        assert row["stack"]["loss_kernel"] == "torch"  # the CPU's path of TRL's fused head
        # The planner's estimate stays within the target the CPU table holds it to (no under-estimate past -10%).
        assert -0.10 <= row["error_vs_allocated"] <= 0.10, row
    assert results["recommended"] == []  # the recommender's rows need a card
    table = (tmp_path / "RESULTS.md").read_text()
    assert "qwen2.5-0.5b-full" in table and "median |error|" in table
