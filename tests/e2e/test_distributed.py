"""Two processes through `accelerate launch` on the CPU (gloo): the tiny demo as a DDP run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import read_metrics, run_cli, run_demo, wait_for
from ftwiz.runs.store import RunDir, read_status

TWO = ("distributed.num_processes=2", "data.val_size=16", "train.logging_steps=2")


def test_two_processes_train_one_run(tmp_path: Path):
    result = run_demo(f"output.runs_dir={tmp_path}", *TWO, "train.max_steps=10")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = RunDir(next(tmp_path.iterdir()))
    status = read_status(run)
    assert status["state"] == "completed" and status["world_size"] == 2 and status["final"]["steps"] == 10
    assert status["strategy"] == "ddp"
    log = run.log.read_text()
    assert log.count("ftwiz.train: data:") == 2  # two ranks really ran
    assert "ddp as accelerate's MULTI_CPU over 2 processes" in log
    # DDP really all-reduced the gradients: both processes end with the same weights (the worker compares them).
    assert "all 2 replicas hold the same weights after training" in log
    assert "SIGABRT" not in log and "ChildFailedError" not in log  # both processes left the group cleanly
    train = [r for r in read_metrics(run.path) if r["kind"] == "train"]
    assert [r["step"] for r in train] == sorted({r["step"] for r in train})  # one metrics stream, not two
    rows = 2000 - 16
    assert train[-1]["epoch"] == round(10 * 8 * 1 * 2 / rows, 4)  # micro-batch x accumulation x world size
    assert (run.adapter / "adapter_model.safetensors").is_file()

    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(run.path / "accelerate.yaml"))  # accelerate's own loader accepts it
    assert loaded.num_processes == 2 and loaded.distributed_type == "MULTI_GPU"


def test_stop_reaches_every_rank(tmp_path: Path):
    started = run_demo(f"output.runs_dir={tmp_path}", *TWO, "train.max_steps=5000", detach=True)
    assert started.returncode == 0, started.stderr
    run = RunDir(Path(started.stdout.strip()))
    wait_for(lambda: read_status(run).get("step", 0) >= 3, timeout=120)
    stopped = run_cli("stop", str(run.path))
    assert stopped.returncode == 0, stopped.stderr
    status = wait_for(lambda: (s := read_status(run)).get("state") in ("stopped", "failed") and s, timeout=120)
    assert status["state"] == "stopped", json.dumps(status)[:2000]
    assert (run.adapter / "adapter_model.safetensors").is_file()


def test_fsdp_without_gpus_is_refused_before_a_run_folder_exists(tmp_path: Path):
    result = run_demo(f"output.runs_dir={tmp_path}", "distributed.num_processes=2", "distributed.strategy=fsdp")
    assert result.returncode == 2
    assert "distributed.strategy: fsdp needs NVIDIA GPUs" in result.stderr and "strategy=ddp" in result.stderr
    assert not any(tmp_path.iterdir())
