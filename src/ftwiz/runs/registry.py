"""Finding runs: every run folder under a runs directory, one run by id or path, one line of summary each.

Read-only: a monitor, `ftwiz runs` and `ftwiz attach` never write a run folder (only `stop.request`).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ftwiz.errors import BadInput
from ftwiz.runs.store import ACTIVE_STATES, RunDir, effective_state, read_status

DEFAULT_RUNS_DIR = Path("runs")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def runs_dir(explicit: str | None = None) -> Path:
    """`--runs-dir`, else `$FTWIZ_RUNS_DIR`, else ./runs (the default of `output.runs_dir`)."""
    return Path(explicit or os.environ.get("FTWIZ_RUNS_DIR") or DEFAULT_RUNS_DIR).expanduser()


def list_runs(root: Path) -> list[RunDir]:
    """Run folders (those holding a status.json), oldest first: ids start with their creation time."""
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir()) if (p / "status.json").is_file()]


def find_run(ref: str | None, root: Path, *, prefer_live: bool = False) -> RunDir:
    """A run by folder path, id, or unique id prefix/suffix; without `ref`, the newest (live one if asked)."""
    if ref is not None:
        path = Path(ref).expanduser()
        if (path / "status.json").is_file():
            return RunDir(path.resolve())
        candidates = [r for r in list_runs(root) if r.id == ref] or [
            r for r in list_runs(root) if r.id.startswith(ref) or r.id.endswith(ref)
        ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise BadInput(f"no run {ref!r} in {root}", hint="`ftwiz runs` lists them; give an id or a run folder.")
        names = ", ".join(r.id for r in candidates[-5:])
        raise BadInput(f"{ref!r} matches {len(candidates)} runs in {root} ({names})", hint="Give the whole id.")
    runs = list_runs(root)
    if not runs:
        raise BadInput(f"no runs in {root}", hint="Start one: ftwiz --preset tiny-demo --headless")
    if prefer_live:
        live = [r for r in runs if effective_state(read_status(r)) in ACTIVE_STATES]
        if live:
            return live[-1]
    return runs[-1]


def latest_checkpoint(run: RunDir) -> Path | None:
    """The checkpoint with the highest step that was completely written (Trainer writes trainer_state.json last)."""
    if not run.checkpoints.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in run.checkpoints.iterdir()
        if (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()
    ]
    return max(found)[1] if found else None


def _seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def summary(run: RunDir, now: float | None = None) -> dict[str, Any]:
    """One run as CONTRACTS' `ftwiz runs --json` row."""
    status = read_status(run)
    now = time.time() if now is None else now
    started, ended = _seconds(status.get("started_at")), _seconds(status.get("ended_at"))
    state = effective_state(status, now)
    end = ended if ended is not None else (now if state in ACTIVE_STATES else float(status.get("heartbeat") or now))
    name = run.id.split("-", 2)[2] if run.id.count("-") >= 2 else run.id
    return {
        "id": run.id,
        "name": name,
        "state": state,
        "step": status.get("step", 0),
        "max_steps": status.get("max_steps"),
        "loss": status.get("loss"),
        "started_at": status.get("started_at"),
        "duration_seconds": round(end - started, 1) if started is not None else None,
        "folder": str(run.path),
        "error": (status.get("error") or {}).get("summary"),
    }
