"""The README's demo end to end: `ftwiz --preset tiny-demo --headless` (one shared run, see conftest)."""

from __future__ import annotations

import json

import yaml

from conftest import FAKE_TOKEN, read_metrics


def test_demo_exits_0_and_prints_the_run_folder_last(demo_run):
    result, run_dir = demo_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(run_dir)
    assert "eval loss" in result.stdout


def test_run_folder_has_the_contract_files(demo_run):
    _, run_dir = demo_run
    for name in (
        "config.yaml",
        "status.json",
        "metrics.jsonl",
        "train.log",
        "command.txt",
        "environment.txt",
        "samples.md",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["output"]["run_name"] == "tiny-demo"
    assert run_dir.name.endswith("-tiny-demo")
    assert "--preset tiny-demo --headless" in (run_dir / "command.txt").read_text()


def test_status_is_completed_with_final_metrics(demo_run):
    _, run_dir = demo_run
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed"
    assert status["step"] == status["max_steps"] == 200
    assert isinstance(status["pid"], int) and status["heartbeat"] > 0
    assert status["world_size"] == 1
    assert status["started_at"] and status["ended_at"]
    assert status["final"]["steps"] == 200


def test_metrics_have_train_lines_and_eval_before_and_after(demo_run):
    _, run_dir = demo_run
    records = read_metrics(run_dir)
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert train and all(
        {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed"} <= r.keys()
        for r in train
    )
    assert [e["step"] for e in evals] == [0, 200]
    before, after = evals[0]["eval_loss"], evals[-1]["eval_loss"]
    assert after <= 0.8 * before, f"eval loss only went {before:.3f} -> {after:.3f}"
    assert train[-1]["loss"] < train[0]["loss"]


def test_samples_show_before_and_after(demo_run):
    result, run_dir = demo_run
    text = (run_dir / "samples.md").read_text()
    assert "**Before training**" in text and "**After training**" in text
    records = json.loads((run_dir / "samples.json").read_text())
    assert len(records) >= 3
    # After training the model answers in the task's `key: value` format for most held-out prompts.
    right = sum(rec["after"].strip() == rec["expected"].strip() for rec in records)
    assert right >= len(records) // 2, records
    assert "before:" in result.stdout and "after:" in result.stdout


def test_no_secret_lands_in_the_run_folder(demo_run):
    _, run_dir = demo_run
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN not in path.read_text(errors="ignore"), path


def test_plan_json_predicts_the_trainable_parameters_peft_created(demo_run):
    _, run_dir = demo_run
    plan = json.loads((run_dir / "plan.json").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    assert plan["trainable_params"] == status["trainable_params"]
    assert plan["peak_bytes"] == sum(plan["breakdown"].values())


def test_the_loss_falls_on_the_answers_only(demo_run):
    _, run_dir = demo_run
    status = json.loads((run_dir / "status.json").read_text())
    assert 0.1 < status["loss_token_share"] < 0.5
    log = (run_dir / "train.log").read_text()
    sample = log.split("«trained»: ", 1)[1]
    assert "«name: " in sample and "<|im_end|>»" in sample  # the answer and its stop token, not the prompt
