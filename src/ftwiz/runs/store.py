"""The run folder `runs/<id>/` (CONTRACTS.md): layout, atomic writes, status, metrics, stop requests.

The worker writes, monitors read, so every file another process reads is written atomically (temp file +
`os.replace`) or append-only (`metrics.jsonl`, one JSON object a line, flushed per line). A stop request is
a file the worker polls: it works across SSH sessions and users without signals.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ftwiz.files import read_json, write_json_atomic

ACTIVE_STATES = ("queued", "loading", "running")
FINAL_STATES = ("completed", "failed", "stopped")
HEARTBEAT_SECONDS = 5.0
"""How often a live worker refreshes `heartbeat` (the contract promises at least every 10 s)."""
STALE_SECONDS = 30.0
"""A heartbeat older than this, with the pid gone, means the worker died without saying so."""


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / "config.yaml")
    plan = property(lambda self: self.path / "plan.json")
    status = property(lambda self: self.path / "status.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    log = property(lambda self: self.path / "train.log")
    command = property(lambda self: self.path / "command.txt")
    environment = property(lambda self: self.path / "environment.txt")
    checkpoints = property(lambda self: self.path / "checkpoints")
    adapter = property(lambda self: self.path / "adapter")
    samples = property(lambda self: self.path / "samples.md")
    samples_json = property(lambda self: self.path / "samples.json")
    stop_request = property(lambda self: self.path / "stop.request")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def create_run(runs_dir: Path, run_name: str, now: datetime | None = None) -> RunDir:
    """A new, empty run folder `YYYYMMDD-HHMMSS-<run_name>`, with `-2`, `-3`... on a clash."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{stamp}-{run_name}"
    for attempt in range(1, 1000):
        path = runs_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()  # atomic: two launches in the same second get different folders
        except FileExistsError:
            continue
        return RunDir(path)
    raise RuntimeError(f"could not create a run folder under {runs_dir}")


class StatusWriter:
    """Owns `status.json` for the worker: merges updates, writes atomically, beats every few seconds."""

    def __init__(self, run: RunDir, **initial: Any) -> None:
        self._path = run.status
        self._lock = threading.Lock()
        self._status: dict[str, Any] = read_json(self._path) or {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.update(**initial)

    @property
    def data(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._status.update(fields)
            self._status["heartbeat"] = time.time()
            write_json_atomic(self._path, self._status)

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        def beat() -> None:
            while not self._stop.wait(interval):
                self.update()

        self._thread = threading.Thread(target=beat, name="ftwiz-heartbeat", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def read_status(run: RunDir) -> dict[str, Any]:
    return read_json(run.status) or {}


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid runs on this machine (a zombie, killed but not reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): trust kill(0)
        return True


def effective_state(status: dict[str, Any], now: float | None = None) -> str:
    """The recorded state, or `died` when an active run's worker is gone: at once when it ran on this machine
    and its pid is dead; otherwise (another host sharing the folder, a reused pid, a worker that never started)
    once its last sign of life is stale. A queued run the launcher just wrote (no pid, no heartbeat yet) counts
    from its `created_at`: seconds old, it is `queued`, not dead."""
    state = status.get("state", "queued")
    if state in ACTIVE_STATES:
        here = status.get("host") == socket.gethostname() and status.get("pid")
        if here and not pid_alive(status.get("pid")):
            return "died"
        stale = (now or time.time()) - last_sign_of_life(status) > STALE_SECONDS
        if stale and (status.get("host") not in (None, socket.gethostname()) or not pid_alive(status.get("pid"))):
            return "died"
    return state


def last_sign_of_life(status: dict[str, Any]) -> float:
    """Epoch seconds of the worker's last heartbeat, else of the run's creation (0 when neither is readable)."""
    try:
        beat = float(status.get("heartbeat") or 0)
    except (TypeError, ValueError):
        beat = 0.0
    if beat:
        return beat
    try:
        return datetime.fromisoformat(str(status.get("created_at"))).timestamp()
    except ValueError:
        return 0.0


class LocalStatus:
    """StatusWriter's interface without the file: what a non-main rank of a multi-process run uses, so that
    only rank 0 writes status.json (and heartbeats)."""

    def __init__(self, **initial: Any) -> None:
        self._status = dict(initial)

    @property
    def data(self) -> dict[str, Any]:
        return dict(self._status)

    def update(self, **fields: Any) -> None:
        self._status.update(fields)

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        pass

    def close(self) -> None:
        pass


class NullMetrics:
    """MetricsWriter's interface for non-main ranks: one metrics stream per run, written by rank 0."""

    def write(self, kind: str, step: int, **values: Any) -> dict[str, Any]:
        return {"kind": kind, "step": step, **values}

    def close(self) -> None:
        pass


class MetricsWriter:
    """Appends one JSON object a line to `metrics.jsonl`, flushed per line so a tail sees it at once."""

    def __init__(self, run: RunDir) -> None:
        self._fh = run.metrics.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, kind: str, step: int, **values: Any) -> dict[str, Any]:
        record = {"kind": kind, "step": step, **values}
        with self._lock:
            self._fh.write(json.dumps(record, default=float) + "\n")
            self._fh.flush()
        return record

    def close(self) -> None:
        self._fh.close()


@dataclass
class MetricsReader:
    """Follows `metrics.jsonl`: each `read_new()` returns the complete lines written since the last call."""

    path: Path
    _offset: int = 0
    _partial: bytes = field(default=b"", repr=False)

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")  # the last piece is an unfinished line (or b"")
        return [json.loads(line) for line in lines if line.strip()]


def request_stop(run: RunDir, reason: str = "user") -> None:
    write_json_atomic(run.stop_request, {"requested_at": utc_now(), "reason": reason})


def stop_requested(run: RunDir) -> bool:
    return run.stop_request.exists()
