"""The training worker: `python -m ftwiz.train RUN_DIR`.

It reads only its run folder (config.yaml) and writes only into it: status.json, metrics.jsonl, samples.md,
environment.txt, checkpoints/ and adapter/; its stdout/stderr are train.log (the launcher redirects them).
It runs in its own session, so a dropped SSH connection or a closed monitor does not end it. One recipe,
torchtune-style: setup -> eval before -> train -> eval after -> save -> samples.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwiz.config.presets import load_config_file, to_yaml
from ftwiz.config.schema import RunConfig
from ftwiz.config.values import deadline_at
from ftwiz.errors import BadInput, ExitCode, FtwizError
from ftwiz.files import read_json, write_json_atomic, write_text_atomic
from ftwiz.hardware.sampler import SystemRecorder
from ftwiz.runs.registry import latest_checkpoint
from ftwiz.runs.store import (
    LocalStatus,
    MetricsWriter,
    NullMetrics,
    RunDir,
    StatusWriter,
    read_status,
    request_stop,
    utc_now,
)
from ftwiz.train.recovery import (
    EARLY_STEPS,
    MAX_OOM_RETRIES,
    next_fallback,
    oom_phase,
)

if TYPE_CHECKING:
    from ftwiz.plan.estimate import Estimate

log = logging.getLogger("ftwiz.train")


@dataclass
class Outcome:
    state: str  # completed | stopped
    final: dict[str, Any]
    trainer: Any = None
    decisions: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.state == "completed" else ExitCode.STOPPED


def run_training(run: RunDir, config: RunConfig, status: StatusWriter) -> Outcome:
    """Train as configured; the caller owns status' final state. Returns the trainer for in-process callers."""
    import torch  # noqa: F401  (import order: CUDA_VISIBLE_DEVICES is set before this)

    from ftwiz.data.load import load_rows, split_rows
    from ftwiz.train import build, distributed, samples
    from ftwiz.train.callbacks import RunFolderCallback

    decisions: list[str] = list(status.data.get("decisions") or [])  # kept across resumes and OOM retries
    checkpoint = latest_checkpoint(run)
    main = is_main_process()  # of a multi-process run, only rank 0 writes the run folder
    if main:
        write_text_atomic(run.environment, environment_report())
    # Data first: a bad row should stop the run before minutes of model loading.
    rows, fmt, data_decisions = load_rows(config.data, config.method)
    _note(decisions, *data_decisions)
    train_ds, eval_ds = split_rows(rows, config.data.val_size, config.train.seed)
    log.info("data: %d training rows, %d held out (%s)", len(train_ds), len(eval_ds or []), fmt)
    log.info("loading tokenizer and model %s", config.model.id)
    tokenizer = build.load_tokenizer(config, decisions)
    model = build.load_model(config)

    metrics = MetricsWriter(run) if main else NullMetrics()
    deadline = status.data.get("deadline_at")
    deadline_ts = datetime.fromisoformat(deadline).timestamp() if deadline else None
    callback = RunFolderCallback(run, status, metrics, deadline_ts)
    trainer = build.make_trainer(config, model, tokenizer, train_ds, eval_ds, run, [callback])
    if (engine := distributed.check_engine(trainer, config)) is not None:
        log.info("%s", engine)
        status.update(strategy=config.distributed.strategy)
    prompts_masked = config.method == "sft" and config.data.train_on == "assistant" and fmt != "text"
    _loss_report(trainer, tokenizer, len(train_ds), decisions, status, prompts_masked=prompts_masked)
    trainable, total = _param_counts(trainer.model)
    log.info("parameters: %s trainable of %s (%.3f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    status.update(trainable_params=trainable, total_params=total, decisions=decisions)
    if main:
        planned = _estimate(config, trainer.model, rows=len(train_ds) + len(eval_ds or []))
        _write_plan(run, planned)
        _check_disk(run, config, trainer, trainable, total, planned)
    initial = _save_initial_adapter(run, config, trainer)

    # Generating from a sharded model (FSDP, ZeRO-3) needs every process in lockstep; rank 0 alone would wait
    # forever for the others' shards. Such runs skip the samples (`ftwiz chat` tries the adapter afterwards).
    sampling = main and not distributed.sharded(config)
    if main and not sampling:
        _note(decisions, "no before/after samples: the model is sharded over the processes (ftwiz chat RUN tries it)")
    prompts = samples.pick_prompts(eval_ds if eval_ds is not None else train_ds) if sampling else []
    previous = read_json(run.samples_json) if checkpoint else None
    if previous and len(previous) == len(prompts):  # resumed: the base model's answers were recorded at the start
        before = [record["before"] for record in previous]
    elif sampling:
        before = samples.generate(trainer.model, tokenizer, prompts)
        _write_samples(run, samples.to_records(prompts, before, None))
    # The step-0 eval line runs inside train(), after accelerate has wrapped the model: a `trainer.evaluate()`
    # before `train()` marks the model as prepared, and the training prepare then skips the DDP wrapper, so the
    # processes of a multi-GPU run would never exchange gradients. The callback records its loss.
    trainer.args.eval_on_start = eval_ds is not None and status.data.get("eval_loss_before") is None

    if run.stop_request.exists():
        log.info("stop requested before training started")
        return Outcome("stopped", {"steps": 0}, trainer, decisions)
    if checkpoint is not None:
        _note(decisions, f"resumed from {checkpoint.name} (optimizer, scheduler, RNG and data position restored)")
        status.update(decisions=decisions)
        log.info("resuming from %s", checkpoint)
    log.info("training")
    recorder = _system_recorder(metrics, status) if main else None
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        if recorder is not None:
            recorder.close()
    eval_before = status.data.get("eval_loss_before")
    eval_after = trainer.evaluate()["eval_loss"] if eval_ds is not None else None  # the final eval line

    if initial is not None:  # PiSSA/OLoRA: an adapter that loads on the original base, not the residual one
        if main:
            trainer.model.save_pretrained(str(run.adapter), path_initial_model_for_weight_conversion=str(initial))
    else:
        trainer.save_model(str(run.adapter))  # writes on the main process only
    if main:
        tokenizer.save_pretrained(str(run.adapter))
    log.info("saved %s to %s", "model" if config.adapter.whole_model else "adapter", run.adapter)
    agree = distributed.replicas_agree(trainer)
    if agree:
        log.info("distributed: all %d replicas hold the same weights after training", distributed.world_size())
    elif agree is False:  # after the save: the work is kept for inspection
        raise RuntimeError(
            "the processes hold different weights after training: their gradients were not exchanged, so the "
            f"saved {'model' if config.adapter.whole_model else 'adapter'} is one process's alone"
        )
    if sampling:
        after = samples.generate(trainer.model, tokenizer, prompts)
        _write_samples(run, samples.to_records(prompts, before, after))
    metrics.close()

    final = {
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "eval_loss_before": eval_before,
        "eval_loss": eval_after,
        "train_runtime": callback.summary.get("train_runtime"),
        "tokens_seen": trainer.state.num_input_tokens_seen,
    }
    state = trainer.state
    if config.train.early_stopping_patience and not callback.stop_reason and state.global_step < state.max_steps:
        best = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else "?"
        _note(
            decisions,
            f"early stopping at step {state.global_step} of {state.max_steps}: the eval loss did not improve for "
            f"{config.train.early_stopping_patience} evaluations; saved the best model ({best}, eval loss "
            f"{state.best_metric:.4f})",
        )
    if callback.stop_reason:
        decisions.append(f"stopped early at step {trainer.state.global_step}: {callback.stop_reason}")
        return Outcome("stopped", final, trainer, decisions)
    return Outcome("completed", final, trainer, decisions)


def _loss_report(
    trainer: Any, tokenizer: Any, rows_in: int, decisions: list[str], status: StatusWriter, *, prompts_masked: bool
) -> None:
    """Which tokens carry loss, said before training: the share, rows TRL dropped, one sample with «trained» spans.
    Refuses to train when no token carries loss (a template or masking mistake, not a run), and when prompts would
    carry loss although `data.train_on: assistant` says they must not (e.g. a packing path that drops labels)."""
    dataset = trainer.train_dataset
    if rows_in > len(dataset) and not getattr(trainer.args, "packing", False):  # packing merges rows: fewer, full
        decisions.append(
            f"{rows_in - len(dataset)} of {rows_in} training rows had no token to train on (e.g. "
            "truncated before the answer) and were left out by TRL"
        )
    has_labels = "labels" in dataset.column_names
    if prompts_masked and not has_labels:
        raise BadInput(
            "data.train_on is assistant, but the prepared data has no labels: every token, prompts included, "
            f"would carry loss{' (packing dropped the masks)' if trainer.args.packing else ''}",
            hint="Set data.packing: false, or data.train_on: all if training on prompts is what you want.",
        )
    if not has_labels:
        return
    sample = dataset.select(range(min(len(dataset), 5000)))["labels"]
    total = sum(len(labels) for labels in sample)
    trained = sum(1 for labels in sample for label in labels if label != -100)
    share = trained / total if total else 0.0
    status.update(loss_token_share=round(share, 4))
    if prompts_masked and share == 1:
        raise BadInput(
            "data.train_on is assistant, but every token carries loss: the prompts are not masked",
            hint="Set data.packing: false, or data.train_on: all if training on prompts is what you want.",
        )
    if share == 0:
        raise BadInput(
            "no token carries loss: every label is masked",
            hint="The chat template may lack {% generation %} markers: set data.chat_template (e.g. chatml), or "
            "data.train_on: all.",
        )
    first = dataset[0]
    parts, trained_span = [], False
    for token, label in zip(first["input_ids"], first["labels"], strict=False):
        if (label != -100) != trained_span:
            parts.append("«" if not trained_span else "»")
            trained_span = not trained_span
        parts.append(tokenizer.decode([token]))
    log.info(
        "loss on %.1f%% of tokens; first training row, «trained»: %s",
        100 * share,
        "".join(parts) + ("»" if trained_span else ""),
    )


def is_main_process() -> bool:
    """Rank 0 of an `accelerate launch` (torch's launcher sets RANK), or a single-process run."""
    return int(os.environ.get("RANK", "0")) == 0


def _save_initial_adapter(run: RunDir, config: RunConfig, trainer: Any) -> Path | None:
    """PiSSA and OLoRA start from the base's principal directions and subtract them from the base weights, so the
    trained adapter only fits that modified base. PEFT converts it back (to a rank-2r LoRA on the original base)
    given the adapter as it was before training: saved here, once (a resumed run re-creates the same start)."""
    if config.adapter.init_lora_weights not in ("pissa", "olora"):
        return None
    initial = run.path / "initial-adapter"
    if is_main_process() and not (initial / "adapter_config.json").exists():
        peft_cfg = trainer.model.peft_config["default"]
        chosen, peft_cfg.init_lora_weights = peft_cfg.init_lora_weights, True  # PEFT's recipe for the saved copy
        try:
            trainer.model.save_pretrained(str(initial))
        finally:
            peft_cfg.init_lora_weights = chosen
    return initial


def _note(decisions: list[str], *notes: str) -> None:
    """Record a decision once (a resumed or retried run repeats the same checks)."""
    decisions.extend(n for n in notes if n not in decisions)


def _system_recorder(metrics: MetricsWriter, status: StatusWriter) -> SystemRecorder:
    """`system` lines every few seconds on a GPU (device memory and utilisation from NVML, allocator peak)."""
    import torch

    from ftwiz.hardware.sampler import SYSTEM_EVERY_SECONDS, GpuSampler, visible_gpu_indices

    sampler = GpuSampler(visible_gpu_indices()) if torch.cuda.is_available() else GpuSampler([])

    def write(gpus: list[dict[str, Any]]) -> None:
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
        metrics.write("system", int(status.data.get("step") or 0), gpu=gpus, peak_allocated_bytes=peak)
        if sampler.peak_used:
            memory = dict(status.data.get("peak_memory") or {})
            memory["nvml_bytes"] = max(sampler.peak_used.values())
            status.update(peak_memory=memory)

    recorder = SystemRecorder(sampler, write, SYSTEM_EVERY_SECONDS)
    recorder.start()
    return recorder


def _estimate(config: RunConfig, model: Any, rows: int) -> Estimate | None:
    """The planner's estimate for this run (plan/estimate.py, the one every front end uses), given what the worker
    knows for sure: the dtype it loaded and PEFT's own target names. None when the model cannot be inspected."""
    import torch

    from ftwiz.models.inspect import inspect_reference
    from ftwiz.plan.estimate import estimate
    from ftwiz.train import build

    try:
        inspection = inspect_reference(build.model_path(config), rank=config.adapter.r)
        peft_config = getattr(model, "peft_config", {}).get("default")
        targets = tuple(sorted(peft_config.target_modules)) if peft_config is not None else None
        dtype = {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(
            build.compute_dtype(config.model.dtype), "float32"
        )
        return estimate(config, inspection, dtype=dtype, targets=targets, rows=rows)
    except Exception as exc:  # the estimate is a courtesy; training goes on without it
        log.warning("could not estimate this run: %s", exc)
        return None


def _write_plan(run: RunDir, planned: Estimate | None) -> None:
    """plan.json: the planner's estimate for this run, beside what it will measure."""
    import torch

    if planned is not None:
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        write_json_atomic(run.plan, {**planned.to_dict(), "device": device})


def _check_disk(
    run: RunDir, config: RunConfig, trainer: Any, trainable: int, total: int, planned: Estimate | None = None
) -> None:
    """Stop now, with numbers, rather than die mid-save when the disk cannot hold the checkpoints: the estimate's
    disk term, else the same arithmetic over the measured parameter counts and the trainer's own step count."""
    import shutil

    from ftwiz.plan.estimate import checkpoints_on_disk, disk_bytes

    if planned is not None and planned.disk_bytes is not None and planned.steps is not None:
        needed, steps = planned.disk_bytes, planned.steps
    else:
        args = trainer.args
        per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
        steps = (
            args.max_steps
            if args.max_steps > 0
            else math.ceil(len(trainer.train_dataset) / per_step * args.num_train_epochs)
        )
        needed = disk_bytes(config, steps, trainable, total)
    count = checkpoints_on_disk(steps, config.train.save_steps, config.train.save_total_limit)
    free = shutil.disk_usage(run.path).free
    log.info(
        "disk: checkpoints need up to %.2f GiB (%d x %.2f GiB + the final save), %.1f GiB free",
        needed / 2**30,
        count,
        needed / (count + 1) / 2**30,
        free / 2**30,
    )
    if needed > free:
        raise BadInput(
            f"not enough disk for the checkpoints: up to {needed / 2**30:.1f} GiB ({count} checkpoints of "
            f"{needed / (count + 1) / 2**30:.2f} GiB and the final save), {free / 2**30:.1f} GiB free under "
            f"{run.path}",
            hint="Free space, lower train.save_total_limit, raise train.save_steps, or set output.runs_dir to a "
            "larger disk.",
        )


def _write_samples(run: RunDir, records: list[dict[str, Any]]) -> None:
    from ftwiz.train.samples import to_markdown

    write_json_atomic(run.samples_json, records)
    write_text_atomic(run.samples, to_markdown(records))


def _param_counts(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def environment_report() -> str:
    """environment.txt: Python, GPU/driver/CUDA, and every installed package (no environment variables)."""
    import platform

    import torch

    lines = [f"python {platform.python_version()} on {platform.platform()}", f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        lines.append(f"cuda {torch.version.cuda} (torch build), cudnn {torch.backends.cudnn.version()}")
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        lines.append(f"driver {_driver_version()}, bf16 {'yes' if bf16 else 'no (fp16)'}")
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"gpu {i}: {props.name}, {props.total_memory / 2**30:.1f} GiB, sm_{props.major}{props.minor}")
    else:
        lines.append("gpu: none (training on the CPU)")
    lines.append("")
    lines += sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
    return "\n".join(lines) + "\n"


def _driver_version() -> str:
    try:
        import pynvml

        pynvml.nvmlInit()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return f"{pynvml.nvmlSystemGetDriverVersion()} (CUDA {cuda // 1000}.{cuda % 1000 // 10})"
    except Exception:  # NVML missing: the torch line above still names the CUDA build
        return "unknown (NVML unavailable)"


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
