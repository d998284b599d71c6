"""The run folder: ids, atomic writes, metrics tailing, died detection, stop requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime

from ftwiz.files import write_json_atomic
from ftwiz.runs.store import (
    MetricsReader,
    MetricsWriter,
    RunDir,
    StatusWriter,
    create_run,
    effective_state,
    pid_alive,
    read_status,
    request_stop,
    stop_requested,
)


def test_run_ids_are_timestamped_and_never_clash(tmp_path):
    now = datetime(2026, 11, 23, 3, 4, 5)
    first = create_run(tmp_path, "demo", now)
    second = create_run(tmp_path, "demo", now)
    assert first.id == "20261123-030405-demo"
    assert second.id == "20261123-030405-demo-2"
    assert first.path.is_dir() and second.path.is_dir()


def test_atomic_json_leaves_no_temp_files(tmp_path):
    target = tmp_path / "status.json"
    for i in range(20):
        write_json_atomic(target, {"step": i})
    assert json.loads(target.read_text()) == {"step": 19}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_status_writer_merges_updates_and_beats(tmp_path):
    run = RunDir(tmp_path)
    status = StatusWriter(run, state="loading", pid=os.getpid())
    status.update(step=3)
    first_beat = read_status(run)["heartbeat"]
    status.start_heartbeat(interval=0.05)
    time.sleep(0.2)
    status.close()
    data = read_status(run)
    assert data["state"] == "loading" and data["step"] == 3 and data["pid"] == os.getpid()
    assert data["heartbeat"] > first_beat


def test_metrics_reader_returns_only_complete_lines(tmp_path):
    run = RunDir(tmp_path)
    writer = MetricsWriter(run)
    reader = MetricsReader(run.metrics)
    writer.write("train", 1, loss=2.0)
    assert reader.read_new() == [{"kind": "train", "step": 1, "loss": 2.0}]
    with run.metrics.open("a") as fh:  # a line caught half-written
        fh.write('{"kind": "eval", "st')
    assert reader.read_new() == []
    with run.metrics.open("a") as fh:
        fh.write('ep": 1, "eval_loss": 1.5}\n')
    assert reader.read_new() == [{"kind": "eval", "step": 1, "eval_loss": 1.5}]
    assert reader.read_new() == []
    writer.close()


def test_a_run_whose_process_is_gone_shows_as_died():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    stale = time.time() - 120
    assert effective_state({"state": "running", "pid": dead_pid, "heartbeat": stale}) == "died"
    # A fresh heartbeat, or a live pid, is not (yet) a death; final states are kept as written.
    assert effective_state({"state": "running", "pid": dead_pid, "heartbeat": time.time()}) == "running"
    assert effective_state({"state": "running", "pid": os.getpid(), "heartbeat": stale}) == "running"
    assert effective_state({"state": "completed", "pid": dead_pid, "heartbeat": stale}) == "completed"
    # A worker of this machine is known dead at once (SIGKILL, OOM killer); one of another host only when stale.
    here, fresh = socket.gethostname(), time.time()
    assert effective_state({"state": "running", "pid": dead_pid, "host": here, "heartbeat": fresh}) == "died"
    assert effective_state({"state": "running", "pid": os.getpid(), "host": "gpu-7", "heartbeat": fresh}) == "running"
    assert effective_state({"state": "running", "pid": os.getpid(), "host": "gpu-7", "heartbeat": stale}) == "died"


def test_a_killed_but_unreaped_worker_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(1.0)  # exited, not yet waited for: a zombie
    try:
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_stop_requests_are_files(tmp_path):
    run = RunDir(tmp_path)
    assert not stop_requested(run)
    request_stop(run, reason="Ctrl-C")
    assert stop_requested(run)
    assert json.loads(run.stop_request.read_text())["reason"] == "Ctrl-C"


def test_a_run_the_launcher_just_queued_is_queued_until_its_creation_is_stale():
    """Right after `--detach` (or the wizard's Launch) status.json holds only `queued` and `created_at`: no pid,
    no heartbeat yet. That is a worker still starting, not a dead one; only a minute later is it `died`."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    fresh = {"state": "queued", "run_id": "r", "created_at": now.isoformat(timespec="seconds")}
    assert effective_state(fresh) == "queued"
    assert effective_state(fresh, now=now.timestamp() + 5) == "queued"
    old = {**fresh, "created_at": (now - timedelta(minutes=2)).isoformat(timespec="seconds")}
    assert effective_state(old) == "died"
    assert effective_state({"state": "queued", "created_at": "not a date"}) == "died"
