"""Shared fixtures. Training is expensive on a 2-core CPU: one demo run per session serves every e2e check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# A 2-layer Llama config.json (h=64, I=128, 4 heads x 16, 2 KV heads, vocab 128) for tests that need a model
# reference without weights.
TINY_LLAMA_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
}
FAKE_TOKEN = "hf_FakeTokenForTests0123456789"  # set in the demo's environment; must never reach the run folder


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None) -> CliResult:
    """`ftwiz ARGS...` in a subprocess, as a user would run it."""
    proc = subprocess.run(
        [sys.executable, "-m", "ftwiz", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_demo(*overrides: str, detach: bool = False, **kwargs) -> CliResult:
    """`ftwiz --preset tiny-demo --headless [--detach] --set OVERRIDE...`, the shape most end-to-end tests run."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    return run_cli("--preset", "tiny-demo", "--headless", *(["--detach"] if detach else []), *sets, **kwargs)


def wait_for(predicate, timeout: float = 120, interval: float = 0.2):
    """Poll until `predicate()` is truthy and return it; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliResult, Path]:
    """The README's demo, once: `ftwiz --preset tiny-demo --headless` into a temporary runs folder."""
    runs = tmp_path_factory.mktemp("runs")
    result = run_demo(f"output.runs_dir={runs}", timeout=600, env={"HF_TOKEN": FAKE_TOKEN})
    folders = sorted(p for p in runs.iterdir() if p.is_dir())
    assert folders, f"no run folder created\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result, folders[-1]
