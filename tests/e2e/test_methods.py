"""The methods beyond SFT on the tiny demo: DPO, ORPO and KTO on preference pairs, continued pretraining."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import read_metrics, run_cli
from ftwiz.runs.store import RunDir, read_status


def test_dpo_preset_lowers_its_loss_and_logs_rewards(tmp_path):
    result = run_cli(
        "--preset", "tiny-demo-dpo", "--headless", "--set", f"output.runs_dir={tmp_path}",
        "--set", "train.max_steps=30", "--set", "train.save_steps=1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = RunDir(next(tmp_path.iterdir()))
    final = read_status(run)["final"]
    assert final["eval_loss_before"] == pytest.approx(math.log(2), abs=0.01)  # the policy starts as the reference
    assert final["eval_loss"] < 0.6
    train = [r for r in read_metrics(run.path) if r["kind"] == "train"]
    assert "reward_accuracies" in train[-1] and "reward_margins" in train[-1]
    assert (run.adapter / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("method", "data"),
    [
        ("orpo", "preference.jsonl"),
        ("kto", "feedback.jsonl"),  # KTO's own unpaired format: prompt, completion, label
        ("kto", "preference.jsonl"),  # DPO-style pairs, which TRL unpairs
    ],
)
def test_orpo_and_kto_presets_lower_their_eval_loss(tmp_path, method, data):
    result = run_cli(
        "--preset", f"tiny-demo-{method}", "--headless", "--set", f"output.runs_dir={tmp_path}",
        "--set", "train.max_steps=30", "--set", "train.save_steps=1000",
        "--set", f"data.path=ftwiz:tiny-demo/data/{data}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = RunDir(next(tmp_path.iterdir()))
    final = read_status(run)["final"]
    assert final["eval_loss"] < final["eval_loss_before"]
    if data == "feedback.jsonl":
        for sample in json.loads(run.samples_json.read_text()):  # references come from desirable rows only:
            values = [line.split(": ", 1)[1] for line in sample["expected"].splitlines()]
            assert all(v in sample["prompt"] for v in values), sample  # every field is the prompt's own


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("train.jsonl", "method dpo trains on preference pairs"),
        ("feedback.jsonl", "unpaired feedback (a true/false `label` judging each answer): it trains with method kto"),
    ],
)
def test_dpo_refuses_rows_without_pairs(tmp_path, data, message):
    result = run_cli(
        "--preset", "tiny-demo-dpo", "--headless", "--set", f"output.runs_dir={tmp_path}",
        "--set", f"data.path=ftwiz:tiny-demo/data/{data}",
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


def test_continued_pretraining_preset_packs_raw_text_and_learns(tmp_path):
    result = run_cli(
        "--preset", "tiny-demo-cpt", "--headless", "--set", f"output.runs_dir={tmp_path}",
        "--set", "train.max_steps=20", "--set", "train.save_steps=1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    status = read_status(RunDir(next(tmp_path.iterdir())))
    assert status["final"]["eval_loss"] < status["final"]["eval_loss_before"]
    assert status["loss_token_share"] > 0.9  # raw text: (nearly) every token carries loss
    assert not any("no token to train on" in d for d in status["decisions"])  # packing is not dropping


def test_a_label_beside_conversations_trains_with_kto_and_is_refused_for_sft(tmp_path):
    """LLaMA-Factory's KTO layout (`messages` whose last answer is judged, plus a boolean `label`) is feedback:
    KTO trains on it, SFT refuses it rather than train on the undesirable answers too."""
    from ftwiz import bundled

    feedback = Path(bundled.resolve("ftwiz:tiny-demo/data/feedback.jsonl", key="data.path")).read_text().splitlines()
    rows = [json.loads(line) for line in feedback if line.strip()]
    data = tmp_path / "kto_messages.json"
    data.write_text(json.dumps([{"messages": r["prompt"] + r["completion"], "label": r["label"]} for r in rows]))
    runs = tmp_path / "runs"
    refused = run_cli(
        "--preset", "tiny-demo", "--headless", "--set", f"output.runs_dir={runs}", "--set", f"data.path={data}"
    )
    assert refused.returncode == 2 and "it trains with method kto" in refused.stderr
    assert not runs.exists() or not any(runs.iterdir())
    result = run_cli(
        "--preset", "tiny-demo-kto", "--headless", "--set", f"output.runs_dir={runs}", "--set", f"data.path={data}",
        "--set", "train.max_steps=4", "--set", "train.save_steps=1000", "--set", "train.eval_steps=1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert read_status(RunDir(next(runs.iterdir())))["state"] == "completed"
