"""The real `ftwiz` in a real terminal: tmux at 80x24, typed through two screens, read back."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _keys(session: str, *keys: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)


def test_the_wizard_in_tmux_at_80x24(tmp_path: Path):
    session = f"ftwiz-{uuid.uuid4().hex[:8]}"
    command = f"FTWIZ_CACHE_DIR={shlex.quote(str(tmp_path / 'cache'))} {shlex.quote(sys.executable)} -m ftwiz"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(tmp_path), command],
        check=True,
    )
    try:
        first = wait_for(lambda: "1 Hardware" in (s := _screen(session)) and "Plan for" in s and s, timeout=30)
        assert "Back" in first and "Next" in first and "^n Next" in first  # buttons and footer bindings
        _keys(session, "C-n")
        wait_for(lambda: "Model (hub id" in _screen(session), timeout=10)
        _keys(session, "ftwiz:tiny-demo/model", "Enter")
        model = wait_for(lambda: "gate_proj" in (s := _screen(session)) and s, timeout=60)
        assert "llama" in model and "1.69M parameters" in model
        _keys(session, "C-n")
        wait_for(lambda: "Training data" in _screen(session), timeout=10)
        _keys(session, "ftwiz:tiny-demo/data/train.jsonl", "Enter")
        data = wait_for(lambda: "recommended max_length" in (s := _screen(session)) and s, timeout=60)
        assert "rows 2,000" in data and "recommended max_length 128" in data  # the demo's own tokenizer: p99 117
        assert all(len(line) <= 80 for line in data.splitlines())
        _keys(session, "C-q")
        wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode, 10)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
