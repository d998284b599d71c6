"""`ftwiz runs`, `stop`, `resume`: work with runs that exist, whoever started them and from where.

Everything goes through the run folder (status.json, metrics.jsonl, stop.request), so these work from a new SSH
session, another terminal, or another user with read access. Watching a run (`attach`) is a front end's job:
the CLI picks the monitor or the headless follower.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwiz.errors import BadInput
from ftwiz.files import write_json_atomic
from ftwiz.runs.registry import find_run, latest_checkpoint, list_runs, runs_dir, summary
from ftwiz.runs.store import ACTIVE_STATES, FINAL_STATES, RunDir, effective_state, read_status, request_stop
from ftwiz.train.spawn import spawn_worker

STOP_WAIT_SECONDS = 900.0  # a checkpoint of a large full fine-tune can take minutes to write


def listing(runs: str | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """The runs folder and one summary per run (CONTRACTS.md, runs JSON), oldest first."""
    root = runs_dir(runs)
    return root, [summary(run) for run in list_runs(root)]


def find(ref: str | None, runs: str | None = None, *, prefer_live: bool = False) -> RunDir:
    """A run by id, unique part of one, or folder (None: the newest, live ones first with `prefer_live`)."""
    return find_run(ref, runs_dir(runs), prefer_live=prefer_live)


@dataclass(frozen=True)
class Stopped:
    run: RunDir
    before: str  # the state when asked
    after: str | None  # the state it reached while waiting (None: not asked to wait, or nothing to stop)

    @property
    def requested(self) -> bool:
        return self.before in ACTIVE_STATES


def stop(
    run: RunDir, *, wait: bool = True, timeout: float = STOP_WAIT_SECONDS, asked: Callable[[], None] | None = None
) -> Stopped:
    """Ask a live run to stop gracefully (checkpoint, adapter, state stopped); with `wait`, until it has.
    `asked` is called once the request is made (a front end says so while it waits)."""
    before = effective_state(read_status(run))
    if before not in ACTIVE_STATES:
        return Stopped(run, before, None)
    request_stop(run, reason="ftwiz stop")
    if asked is not None:
        asked()
    if not wait:
        return Stopped(run, before, None)
    deadline = time.monotonic() + timeout
    state = before
    while time.monotonic() < deadline:
        state = effective_state(read_status(run))
        if state in FINAL_STATES or state == "died":
            break
        time.sleep(0.5)
    return Stopped(run, before, state)


@dataclass
class Resumed:
    run: RunDir
    proc: subprocess.Popen[bytes]
    previous: str  # the state it resumed from
    checkpoint: Path | None  # None: it saved none, so it starts again from the beginning


def resume(run: RunDir) -> Resumed:
    """Start a stopped, failed or died run's worker again; it continues from its last checkpoint."""
    status = read_status(run)
    state = effective_state(status)
    if state in ACTIVE_STATES:
        raise BadInput(f"run {run.id} is still {state}", hint=f"Watch it: ftwiz attach {run.id}")
    if state == "completed":
        raise BadInput(f"run {run.id} completed: nothing to resume", hint="Start a new run with a larger max_steps.")
    checkpoint = latest_checkpoint(run)
    run.stop_request.unlink(missing_ok=True)  # the request that stopped it is spent
    # queued, with a fresh heartbeat, so no monitor calls it `died` before the worker takes over
    write_json_atomic(run.status, {**status, "state": "queued", "pid": None, "heartbeat": time.time()})
    return Resumed(run, spawn_worker(run), state, checkpoint)
