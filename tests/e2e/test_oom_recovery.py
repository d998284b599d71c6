"""OOM recovery on the CPU: an injected CUDA out-of-memory error in the backward pass of the first steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwiz.commands.launch import prepare_run
from ftwiz.config.presets import load_config, load_config_file
from ftwiz.runs.store import StatusWriter, read_status, utc_now


def _demo(tmp_path: Path, *overrides: str):
    sets = [f"output.runs_dir={tmp_path}", "data.val_size=8", "train.max_steps=3", "train.logging_steps=1", *overrides]
    config = load_config("tiny-demo", sets).config
    run = prepare_run(config, argv=["ftwiz", "--preset", "tiny-demo"])
    return run, config, StatusWriter(run, state="loading", started_at=utc_now())


def _inject_oom(monkeypatch, times: int) -> dict:
    import torch
    from transformers import Trainer

    calls = {"n": 0}
    original = Trainer.training_step

    def backward():  # named like autograd's entry point, as in a real OOM's traceback
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.5 GiB total)")

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            backward()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", flaky)
    return calls


def test_oom_in_the_first_steps_retries_with_a_smaller_batch_then_checkpointing(tmp_path, monkeypatch):
    from ftwiz.train.retry import train_with_recovery

    _inject_oom(monkeypatch, times=2)
    run, config, status = _demo(tmp_path)
    outcome = train_with_recovery(run, config, status)
    assert outcome.state == "completed" and outcome.final["steps"] == 3
    decisions = read_status(run)["decisions"]
    assert any("out of memory in backward at step 0; retry 1: micro-batch 8 -> 4" in d for d in decisions)
    assert any("retry 2: gradient checkpointing on" in d for d in decisions)
    assert read_status(run)["oom"]["phase"] == "backward"
    saved = load_config_file(run.config)  # a resume continues with what fitted
    assert saved.train.per_device_train_batch_size == 4 and saved.train.gradient_accumulation_steps == 2
    assert saved.train.gradient_checkpointing


def test_oom_that_keeps_coming_ends_the_run_after_three_retries(tmp_path, monkeypatch):
    import torch

    from ftwiz.train.retry import train_with_recovery

    calls = _inject_oom(monkeypatch, times=100)
    run, config, status = _demo(tmp_path, "train.per_device_train_batch_size=2")
    with pytest.raises(torch.OutOfMemoryError):
        train_with_recovery(run, config, status)
    assert calls["n"] == 3  # batch 2 -> 1, checkpointing on, then nothing cheaper left (no QLoRA opt-in)
    assert len(read_status(run)["decisions"]) == 2
