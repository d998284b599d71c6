"""Runs outlive their terminal: a killed launcher, SIGKILL + resume, `ftwiz stop`, `runs`, `attach`, deadlines.

Each test trains the tiny demo for a few dozen steps (about 0.1 s a step on this CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import read_metrics, run_cli, run_demo, wait_for
from ftwiz.runs.registry import latest_checkpoint
from ftwiz.runs.store import RunDir, read_status

SHORT = ("data.val_size=16", "train.logging_steps=5")


def _demo_command(runs: Path, *overrides: str) -> list[str]:
    sets = [a for o in (f"output.runs_dir={runs}", *SHORT, *overrides) for a in ("--set", o)]
    return [sys.executable, "-m", "ftwiz", "--preset", "tiny-demo", "--headless", *sets]


def _only_run(runs: Path) -> RunDir:
    found = lambda: runs.is_dir() and next((p for p in runs.iterdir() if (p / "status.json").exists()), None)  # noqa: E731
    return RunDir(wait_for(found))


def _final(run: RunDir, timeout: float = 180) -> dict:
    return wait_for(lambda: (s := read_status(run)).get("state") in ("completed", "failed", "stopped") and s, timeout)


def test_killing_the_launching_process_group_leaves_the_run_going(tmp_path: Path):
    # The shell, the SSH session and `ftwiz --headless` share a process group; a dropped connection kills it.
    launcher = subprocess.Popen(
        _demo_command(tmp_path, "train.max_steps=40"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run = _only_run(tmp_path)
    wait_for(lambda: read_status(run).get("state") == "running")
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=10)
    status = _final(run)
    assert status["state"] == "completed", run.log.read_text()[-2000:]
    assert status["step"] == 40 and (run.adapter / "adapter_model.safetensors").is_file()


def test_sigkill_then_resume_ends_like_an_uninterrupted_run(tmp_path: Path):
    overrides = ("train.max_steps=60", "train.save_steps=20", "train.save_total_limit=2")
    straight = run_demo(f"output.runs_dir={tmp_path / 'straight'}", *SHORT, *overrides)
    assert straight.returncode == 0, straight.stderr
    reference = read_status(_only_run(tmp_path / "straight"))["final"]

    runs = tmp_path / "killed"
    worker_pid = None
    launcher = subprocess.Popen(_demo_command(runs, *overrides), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = _only_run(runs)
    wait_for(lambda: latest_checkpoint(run) is not None and read_status(run).get("step", 0) >= 25, interval=0.05)
    worker_pid = read_status(run)["pid"]
    os.kill(worker_pid, signal.SIGKILL)
    launcher.wait(timeout=30)
    assert launcher.returncode == 1  # the follower saw the worker die without a final state

    listed = {r["id"]: r for r in json.loads(run_cli("runs", "--json", "--runs-dir", str(runs)).stdout)}
    assert listed[run.id]["state"] == "died"  # its pid is gone: no need to wait for a stale heartbeat

    resumed = run_cli("resume", run.id, "--headless", "--runs-dir", str(runs))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = read_status(run)["final"]
    assert final["steps"] == reference["steps"] == 60
    assert final["eval_loss"] == pytest.approx(reference["eval_loss"], rel=0.05, abs=0.02)
    assert final["eval_loss_before"] == pytest.approx(reference["eval_loss_before"])  # measured once, kept
    assert any("resumed from checkpoint-" in d for d in read_status(run)["decisions"])
    # the metrics stream of the resumed run reaches the last step once more
    assert max(r["step"] for r in read_metrics(run.path) if r["kind"] == "train") == 60


def test_stop_runs_and_attach(tmp_path: Path):
    started = run_demo(f"output.runs_dir={tmp_path}", *SHORT, "train.max_steps=5000", detach=True)
    assert started.returncode == 0, started.stderr
    run = RunDir(Path(started.stdout.strip()))
    wait_for(lambda: read_status(run).get("step", 0) >= 3)

    listed = json.loads(run_cli("runs", "--json", "--runs-dir", str(tmp_path)).stdout)
    assert [(r["id"], r["state"]) for r in listed] == [(run.id, "running")]
    assert set(listed[0]) >= {"id", "name", "state", "step", "max_steps", "loss", "started_at", "duration_seconds"}

    stopped = run_cli("stop", run.id[-9:], "--runs-dir", str(tmp_path))  # a unique part of the id is enough
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
    status = read_status(run)
    assert status["state"] == "stopped" and (run.adapter / "adapter_model.safetensors").is_file()
    assert latest_checkpoint(run) is not None

    table = run_cli("runs", "--runs-dir", str(tmp_path))
    assert run.id in table.stdout and "stopped" in table.stdout
    attached = run_cli("attach", "--runs-dir", str(tmp_path))  # no terminal: the headless follower, full history
    assert attached.returncode == 3, attached.stderr
    assert "eval loss" in attached.stdout and attached.stdout.strip().splitlines()[-1] == str(run.path)
    assert run_cli("stop", run.id, "--runs-dir", str(tmp_path)).returncode == 0  # nothing to stop: fine
    assert run_cli("resume", "nope", "--runs-dir", str(tmp_path)).returncode == 2


def test_a_deadline_stops_with_a_checkpoint_and_exit_3(tmp_path: Path):
    result = run_demo(f"output.runs_dir={tmp_path}", *SHORT, "train.max_steps=5000", "train.deadline=1s")
    assert result.returncode == 3, result.stderr
    run = _only_run(tmp_path)
    status = read_status(run)
    assert status["state"] == "stopped" and status["deadline_at"]
    assert any("deadline reached" in d for d in status["decisions"])
    assert (run.adapter / "adapter_model.safetensors").is_file() and latest_checkpoint(run) is not None
