"""The trainer's link to the run folder: metrics lines, status, stop requests and the deadline."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from transformers import TrainerCallback

from ftwiz.runs.store import MetricsWriter, RunDir, StatusWriter, stop_requested

STATUS_EVERY_SECONDS = 1.0


class RunFolderCallback(TrainerCallback):
    """Writes `train`/`eval` lines to metrics.jsonl, keeps status.json current, and stops on request.

    A stop (the `stop.request` file, SIGTERM, or the deadline) ends training after the current optimizer step
    with a checkpoint, so the run can be resumed and the adapter is still saved.
    """

    def __init__(self, run: RunDir, status: StatusWriter, metrics: MetricsWriter, deadline: float | None) -> None:
        self.run = run
        self.status = status
        self.metrics = metrics
        self.deadline = deadline  # epoch seconds
        self.cuda = torch.cuda.is_available()
        self.started = time.monotonic()
        self.stop_reason: str | None = None
        self.summary: dict[str, Any] = {}
        self._last_status = 0.0
        self._steps_done = 0
        self._last_log: tuple[float, int] | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self._last_log = (self.started, state.num_input_tokens_seen)
        self.status.update(state="running", step=state.global_step, max_steps=state.max_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._steps_done += 1
        if self.stop_reason is None:
            if stop_requested(self.run):
                self.request_stop("stop requested")
            elif self.deadline is not None and time.time() >= self.deadline - self._save_margin():
                self.request_stop("deadline reached")
        if self._any_rank_stops():
            self.request_stop(self.stop_reason or "stop requested on another process")
        if self.stop_reason is not None:
            control.should_training_stop = True
            control.should_save = True  # a checkpoint to resume from
        now = time.monotonic()
        if now - self._last_status >= STATUS_EVERY_SECONDS or control.should_training_stop:
            self._last_status = now
            self.status.update(step=state.global_step, max_steps=state.max_steps, **self._peak_memory())

    def _any_rank_stops(self) -> bool:
        """All processes of a multi-process run stop at the same step (one would otherwise wait forever in the
        next collective): the flag is reduced across ranks. A no-op in a single process."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self.stop_reason is not None
        flag = torch.tensor([1.0 if self.stop_reason is not None else 0.0])
        if torch.distributed.get_backend() == "nccl":
            flag = flag.cuda()
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def _save_margin(self) -> float:
        """Stop this long before the deadline: one step and a checkpoint save must still fit before the box goes."""
        steps = max(1, self._steps_done)
        per_step = (time.monotonic() - self.started) / steps
        return min(600.0, 2 * per_step + 30.0) if self._steps_done else 0.0

    def _peak_memory(self) -> dict[str, Any]:
        """The torch allocator's peaks so far (this process), beside the plan's estimate in the monitor."""
        if not self.cuda:
            return {}
        return {
            "peak_memory": {
                "allocated_bytes": torch.cuda.max_memory_allocated(),
                "reserved_bytes": torch.cuda.max_memory_reserved(),
            }
        }

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        step = state.global_step
        if "eval_loss" in logs:
            eval_loss = float(logs["eval_loss"])
            record = {
                "epoch": _round(state.epoch),
                "eval_loss": eval_loss,
                "perplexity": _perplexity(eval_loss),
            }
            self.metrics.write("eval", step, **record)
            if self.status.data.get("eval_loss_before") is None:  # the first eval: before any training step
                self.status.update(eval_loss_before=eval_loss)
            self._last_log = (time.monotonic(), state.num_input_tokens_seen)  # eval time is not training time
        elif "loss" in logs:
            now = time.monotonic()
            tokens = state.num_input_tokens_seen
            last_time, last_tokens = self._last_log or (self.started, 0)
            tps = (tokens - last_tokens) / (now - last_time) if now > last_time and tokens else None
            self._last_log = (now, tokens)
            self.metrics.write(
                "train",
                step,
                epoch=_round(state.epoch),
                loss=float(logs["loss"]),
                learning_rate=logs.get("learning_rate"),
                grad_norm=_float(logs.get("grad_norm")),
                tokens_per_second=round(tps, 1) if tps is not None else None,
                elapsed=round(now - self.started, 2),
                # DPO: how often the chosen answer outscores the rejected one, and by how much
                **{
                    f"reward_{key.split('/', 1)[1]}": float(value)
                    for key, value in logs.items()
                    if key in ("rewards/accuracies", "rewards/margins")
                },
            )
            self.status.update(step=step, loss=float(logs["loss"]))
        elif "train_runtime" in logs:
            self.summary = {k: v for k, v in logs.items() if isinstance(v, (int, float))}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _perplexity(loss: float) -> float | None:
    return math.exp(loss) if loss < 50 else None
