"""The worker process: saved adapters reload exactly, Ctrl-C stops gracefully, --detach returns at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_demo, wait_for
from ftwiz.commands.launch import prepare_run
from ftwiz.config.presets import load_config
from ftwiz.runs.store import RunDir, StatusWriter, read_status


def test_saved_adapter_reloads_with_the_trained_logits(tmp_path: Path):
    """In-process: train a few steps, then PeftModel.from_pretrained(base, adapter/) gives the same logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ftwiz.train.build import model_path
    from ftwiz.train.recipe import run_training

    config = load_config("tiny-demo", [f"output.runs_dir={tmp_path}", "train.max_steps=5", "data.val_size=8"]).config
    run = prepare_run(config, argv=["test"], preset="tiny-demo")
    status = StatusWriter(run, state="loading", pid=os.getpid())
    outcome = run_training(run, config, status)
    assert outcome.state == "completed" and outcome.final["steps"] == 5

    trained = outcome.trainer.model.eval()
    ids = torch.tensor([[5, 17, 42, 99, 3, 7, 11, 64]])
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(model_path(config), dtype=torch.float32)
        reloaded = PeftModel.from_pretrained(base, str(run.adapter)).eval()
        got = reloaded(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5), (expected - got).abs().max()
    # LoRA actually changed the model: the reloaded adapter is not a no-op.
    with torch.no_grad(), reloaded.disable_adapter():
        assert not torch.allclose(reloaded(input_ids=ids).logits, got, atol=1e-4)


def test_ctrl_c_stops_gracefully_with_exit_3(tmp_path: Path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftwiz",
            "--preset",
            "tiny-demo",
            "--headless",
            "--set",
            f"output.runs_dir={tmp_path}",
            "--set",
            "train.max_steps=5000",
            "--set",
            "data.val_size=8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = RunDir(wait_for(lambda: next(tmp_path.iterdir(), None)))
    wait_for(lambda: read_status(run).get("state") == "running" and read_status(run).get("step", 0) >= 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    status = read_status(run)
    assert status["state"] == "stopped"
    assert 2 <= status["final"]["steps"] < 5000
    assert any("stopped early" in d for d in status["decisions"])
    assert (run.adapter / "adapter_model.safetensors").is_file()
    assert list(run.checkpoints.glob("checkpoint-*")), "a stop leaves a checkpoint to resume from"
    assert "Stopping gracefully" in out
    assert out.strip().splitlines()[-1] == str(run.path)


def test_detach_returns_at_once_and_the_run_goes_on(tmp_path: Path):
    start = time.monotonic()
    result = run_demo(f"output.runs_dir={tmp_path}", "train.max_steps=30", "data.val_size=8", detach=True)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 15
    run = RunDir(Path(result.stdout.strip()))
    assert run.path.parent == tmp_path
    # The launcher is gone; the worker, in its own session, finishes on its own.
    status = wait_for(lambda: (s := read_status(run)).get("state") in ("completed", "failed") and s, timeout=180)
    assert status["state"] == "completed", run.log.read_text()[-3000:]
    assert status["step"] == 30


def test_worker_with_a_broken_run_folder_fails_cleanly(tmp_path: Path):
    run = RunDir(tmp_path)
    run.config.write_text("model: {id: x}\n")
    proc = subprocess.run([sys.executable, "-m", "ftwiz.train", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    status = json.loads(run.status.read_text())
    assert status["state"] == "failed"
    assert "data: required" in status["error"]["summary"]


def test_qlora_trains_on_a_4bit_base(tmp_path: Path):
    """The QLoRA path (bitsandbytes NF4 base, prepare_model_for_kbit_training, LoRA) end to end on the CPU."""
    result = run_demo("adapter.type=qlora", f"output.runs_dir={tmp_path}", "train.max_steps=5", "data.val_size=8")
    assert result.returncode == 0, result.stdout + result.stderr
    run = RunDir(Path(result.stdout.strip().splitlines()[-1]))
    assert read_status(run)["state"] == "completed"
    assert "quantized to 4-bit nf4" in run.log.read_text()
    assert (run.adapter / "adapter_model.safetensors").is_file()


def test_sharegpt_and_alpaca_rows_train_and_bad_rows_are_skipped_and_counted(tmp_path: Path):
    """Other formats go through the checker's normaliser into the same SFT path; on_error: skip says what it dropped."""
    data = tmp_path / "mixed"
    data.mkdir()
    demo = [json.loads(line) for line in Path(bundled_demo_data()).read_text().splitlines()[:40]]
    with (data / "a.jsonl").open("w") as fh:  # ShareGPT
        for row in demo[:20]:
            turns = [
                {"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]), "value": m["content"]}
                for m in row["messages"]
            ]
            fh.write(json.dumps({"conversations": turns}) + "\n")
        fh.write(json.dumps({"conversations": [{"from": "human", "value": "q"}]}) + "\n")  # line 21: no answer
    result = run_demo(
        f"data.path={data}",
        "data.on_error=skip",
        f"output.runs_dir={tmp_path / 'runs'}",
        "train.max_steps=3",
        "data.val_size=4",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = read_status(RunDir(Path(result.stdout.strip().splitlines()[-1])))
    assert status["state"] == "completed"
    assert any("dropped 1 of 21 rows" in d and "line 21" in d for d in status["decisions"])


def bundled_demo_data() -> str:
    from ftwiz import bundled

    return bundled.resolve("ftwiz:tiny-demo/data/train.jsonl", key="data.path")
