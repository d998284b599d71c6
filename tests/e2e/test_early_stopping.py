"""Early stopping: a run whose eval loss stops improving ends early and keeps its best checkpoint."""

from __future__ import annotations

from conftest import run_demo
from ftwiz.runs.store import RunDir, read_status


def test_a_diverging_run_stops_early_with_its_best_model(tmp_path):
    result = run_demo(
        f"output.runs_dir={tmp_path}", "data.val_size=16", "train.max_steps=200", "train.eval_steps=5",
        "train.early_stopping_patience=2", "train.learning_rate=0.5", "train.warmup_steps=0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    status = read_status(RunDir(next(tmp_path.iterdir())))
    assert status["state"] == "completed" and status["final"]["steps"] < 200
    (note,) = [d for d in status["decisions"] if d.startswith("early stopping")]
    assert "did not improve for 2 evaluations" in note and "saved the best model (checkpoint-" in note


def test_patience_without_evaluations_is_a_config_error(tmp_path):
    result = run_demo(f"output.runs_dir={tmp_path}", "train.early_stopping_patience=2", "train.eval_steps=null")
    assert result.returncode == 2 and "set train.eval_steps too" in result.stderr
