"""The training worker: `python -m ftwiz.train RUN_DIR`.

It reads only its run folder (config.yaml) and writes only into it: status.json, metrics.jsonl, samples.md,
environment.txt, checkpoints/ and adapter/; its stdout/stderr are train.log (the launcher redirects them).
It runs in its own session, so a dropped SSH connection or a closed monitor does not end it. This module is the
entry: status.json set up, SIGTERM, the run's final state and exit code. The run itself is one recipe,
torchtune-style (recipe.py: data -> model and trainer -> checks -> samples -> train -> save -> samples), retried
after an early out-of-memory error (retry.py); reports.py writes what the run folder says about the run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from ftwiz.config.presets import load_config_file
from ftwiz.config.values import deadline_at
from ftwiz.errors import ExitCode, FtwizError
from ftwiz.runs.store import LocalStatus, RunDir, StatusWriter, read_status, request_stop, utc_now
from ftwiz.train.retry import train_with_recovery

log = logging.getLogger("ftwiz.train")


class _RankStatus(LocalStatus):
    """A non-main rank's status: kept in memory (rank 0 writes status.json); see `_failed` for errors."""

    def __init__(self, run: RunDir, **initial: Any) -> None:
        super().__init__(**{**read_status(run), **initial})


def _failed(run: RunDir, status: Any, rank: int, summary: str) -> None:
    """A failure on any rank ends the run as failed, with that rank's error in status.json."""
    error = {"summary": summary, "log": str(run.log), **({"rank": rank} if rank else {})}
    if rank == 0:
        status.update(state="failed", ended_at=utc_now(), error=error)
    else:  # rank 0 may be blocked in a collective waiting for this rank: say it here, once
        StatusWriter(run, state="failed", ended_at=utc_now(), error=error)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ftwiz.train RUN_DIR", file=sys.stderr)
        return ExitCode.BAD_INPUT
    run = RunDir(Path(argv[0]).resolve())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    previous = read_status(run)
    world_size, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    # A resumed run keeps its start, deadline and decisions; a new attempt clears the last one's end.
    status = (StatusWriter if rank == 0 else _RankStatus)(
        run,
        state="loading",
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=previous.get("started_at") or utc_now(),
        ended_at=None,
        error=None,
        world_size=world_size,
        run_id=run.id,
    )
    status.start_heartbeat()
    # SIGTERM (kill, a scheduler, `systemctl stop`) becomes the same graceful stop as `ftwiz stop`.
    signal.signal(signal.SIGTERM, lambda *_: request_stop(run, reason="SIGTERM"))
    try:
        config = load_config_file(run.config)
        if config.hardware.gpus is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in config.hardware.gpus)
        if config.train.deadline is not None and not status.data.get("deadline_at"):
            start = datetime.fromisoformat(status.data["started_at"])
            status.update(deadline_at=deadline_at(config.train.deadline, start).isoformat(timespec="seconds"))
        if config.train.price_per_hour is not None:
            status.update(price_per_hour=config.train.price_per_hour)
        outcome = train_with_recovery(run, config, status)
    except FtwizError as exc:
        log.error("%s", exc)
        _failed(run, status, rank, exc.message)
        return exc.exit_code
    except BaseException as exc:  # a failed run must say so in status.json, whatever the cause
        traceback.print_exc()
        _failed(run, status, rank, f"{type(exc).__name__}: {exc}".strip()[:500])
        return ExitCode.RUN_FAILED
    finally:
        status.close()
    if rank == 0:
        status.update(state=outcome.state, ended_at=utc_now(), final=outcome.final, decisions=outcome.decisions)
    if world_size > 1:
        from ftwiz.train.distributed import finish

        finish()
    log.info("run %s %s", run.id, outcome.state)
    return outcome.exit_code
