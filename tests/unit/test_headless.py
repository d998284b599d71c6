"""The headless follower renders what the run folder says, and maps the final state to the exit code."""

from __future__ import annotations

import io
import json
import time

from rich.console import Console

from ftwiz.files import write_json_atomic
from ftwiz.headless import follow
from ftwiz.runs.store import MetricsWriter, RunDir


def make_run(tmp_path, **status) -> RunDir:
    run = RunDir(tmp_path)
    metrics = MetricsWriter(run)
    metrics.write("eval", 0, eval_loss=2.0, perplexity=7.39)
    metrics.write(
        "train", 10, epoch=0.5, loss=1.2, learning_rate=1e-3, grad_norm=0.5, tokens_per_second=900.0, elapsed=3.0
    )
    metrics.write("eval", 20, eval_loss=0.5, perplexity=1.65)
    metrics.close()
    write_json_atomic(run.status, {"pid": 0, "heartbeat": time.time(), "step": 20, "max_steps": 20, **status})
    return run


def render(run: RunDir) -> tuple[int, str]:
    out = io.StringIO()
    code = follow(run, None, Console(file=out, width=100, soft_wrap=True))
    return int(code), out.getvalue()


def test_completed_run_shows_evals_samples_and_ends_with_the_folder(tmp_path):
    run = make_run(tmp_path, state="completed", final={"steps": 20, "eval_loss_before": 2.0, "eval_loss": 0.5})
    run.samples_json.write_text(
        json.dumps([{"prompt": "user: hi", "expected": "a: 1", "before": "zzz", "after": "a: 1"}])
    )
    code, text = render(run)
    assert code == 0
    assert "eval step 0: eval loss 2.0000" in text and "eval step 20: eval loss 0.5000" in text
    assert "step 10/20  loss 1.2000  lr 1.00e-03  grad norm 0.500  900 tok/s" in text
    assert "before:   zzz" in text and "after:    a: 1" in text
    assert "eval loss 2.0000 -> 0.5000 (-75.0%)" in text
    assert text.strip().splitlines()[-1] == str(run.path)


def test_stopped_run_exits_3(tmp_path):
    run = make_run(tmp_path, state="stopped", final={"steps": 12}, decisions=["stopped early at step 12: Ctrl-C"])
    code, text = render(run)
    assert code == 3
    assert "stopped early at step 12" in text


def test_failed_run_shows_the_error_and_the_log_tail(tmp_path):
    run = make_run(tmp_path, state="failed", error={"summary": "CUDA out of memory", "log": "train.log"})
    run.log.write_text("line 1\nTraceback: boom\n")
    code, text = render(run)
    assert code == 1
    assert "Run failed: CUDA out of memory" in text and "Traceback: boom" in text


def test_a_run_that_vanished_shows_as_died(tmp_path):
    run = make_run(tmp_path, state="running")
    status = json.loads(run.status.read_text())
    status.update(heartbeat=time.time() - 3600, pid=2**22 + 12345)
    run.status.write_text(json.dumps(status))
    code, text = render(run)
    assert code == 1
    assert "Run died" in text
