"""The recipe retried after a CUDA out-of-memory error in its first steps: recovery.py (pure) names the phase and
picks the cheaper configuration; this loop catches the error, records it, applies the change and runs again.
"""

from __future__ import annotations

import logging
import traceback

from ftwiz.config.presets import to_yaml
from ftwiz.config.schema import RunConfig
from ftwiz.files import write_text_atomic
from ftwiz.runs.store import RunDir, StatusWriter
from ftwiz.train.recipe import Outcome, run_training
from ftwiz.train.recovery import EARLY_STEPS, MAX_OOM_RETRIES, next_fallback, oom_phase

log = logging.getLogger("ftwiz.train")


def train_with_recovery(run: RunDir, config: RunConfig, status: StatusWriter) -> Outcome:
    """`run_training`, retried after a CUDA out-of-memory error in the first steps with a cheaper configuration
    (recovery.next_fallback), at most MAX_OOM_RETRIES times. Each change is a decision in status.json, and
    config.yaml is rewritten so a resume continues with what fitted."""
    import torch

    for attempt in range(MAX_OOM_RETRIES + 1):
        try:
            return run_training(run, config, status)
        except torch.OutOfMemoryError as exc:
            phase = oom_phase((f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__))
            memory = _memory_now()
            step = int(status.data.get("step") or 0)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
            status.update(oom={"phase": phase, "step": step, "message": first_line[:300], **memory})
            change = next_fallback(config, attempt) if attempt < MAX_OOM_RETRIES and step < EARLY_STEPS else None
            if change is None:
                raise
            config, what = change
            decisions = list(status.data.get("decisions") or [])
            allocated = memory.get("allocated_bytes")
            at = f", {allocated / 2**30:.1f} GiB allocated" if allocated else ""
            decisions.append(f"out of memory in {phase} at step {step}{at}; retry {attempt + 1}: {what}")
            log.warning("%s", decisions[-1])
            status.update(state="loading", decisions=decisions)
            write_text_atomic(run.config, to_yaml(config))
        _release_memory()
    raise AssertionError("unreachable")


def _memory_now() -> dict[str, int]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {
        "allocated_bytes": torch.cuda.memory_allocated(),
        "reserved_bytes": torch.cuda.memory_reserved(),
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
    }


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
