"""One training run as a recipe, torchtune-style: `run_training` reads top to bottom as its phases.

load the data (checked) -> load the model and build the trainer -> checks (loss report, parameters, plan.json,
disk) -> samples before -> train (its step-0 eval line is the loss before) -> eval after -> save -> samples after
-> the final numbers. Each phase is a function over plain values; `Job` is what the phases after the build share.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwiz.config.schema import RunConfig
from ftwiz.errors import ExitCode
from ftwiz.files import read_json, write_text_atomic
from ftwiz.hardware.sampler import SystemRecorder
from ftwiz.runs.registry import latest_checkpoint
from ftwiz.runs.store import MetricsWriter, NullMetrics, RunDir, StatusWriter
from ftwiz.train.reports import (
    check_disk,
    environment_report,
    estimate_run,
    loss_report,
    param_counts,
    write_plan,
    write_samples,
)

if TYPE_CHECKING:
    from ftwiz.train.callbacks import RunFolderCallback
    from ftwiz.train.samples import Prompt

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


@dataclass
class Data:
    """The training rows, the held-out ones (None without data.val_size), and the format they came in."""

    train: Any
    eval: Any
    fmt: str


@dataclass
class Job:
    """What the phases after the build share: the run folder and its status, the decisions so far (one list,
    appended to by every phase), the data, the tokenizer and the trainer with its run-folder callback."""

    run: RunDir
    config: RunConfig
    status: StatusWriter
    decisions: list[str]
    checkpoint: Path | None  # the latest checkpoint: a resumed run continues from it
    main: bool  # of a multi-process run, only rank 0 writes the run folder
    data: Data
    tokenizer: Any
    trainer: Any
    callback: RunFolderCallback
    metrics: MetricsWriter | NullMetrics


@dataclass
class Samples:
    """The before/after samples: whether this process takes them, the prompts, and the base model's answers."""

    taken: bool
    prompts: list[Prompt]
    before: list[str] | None = None


def run_training(run: RunDir, config: RunConfig, status: StatusWriter) -> Outcome:
    """Train as configured; the caller owns status' final state. Returns the trainer for in-process callers."""
    import torch  # noqa: F401  (import order: CUDA_VISIBLE_DEVICES is set before this)

    decisions: list[str] = list(status.data.get("decisions") or [])  # kept across resumes and OOM retries
    checkpoint = latest_checkpoint(run)
    main = is_main_process()  # of a multi-process run, only rank 0 writes the run folder
    if main:
        write_text_atomic(run.environment, environment_report())
    # Data first: a bad row should stop the run before minutes of model loading.
    data = load_data(config, decisions)
    job = build_trainer(run, config, status, data, decisions, checkpoint=checkpoint, main=main)
    check(job)
    initial = _save_initial_adapter(run, config, job.trainer)
    samples = samples_before(job)
    # The step-0 eval line runs inside train(), after accelerate has wrapped the model: a `trainer.evaluate()`
    # before `train()` marks the model as prepared, and the training prepare then skips the DDP wrapper, so the
    # processes of a multi-GPU run would never exchange gradients. The callback records its loss.
    job.trainer.args.eval_on_start = data.eval is not None and status.data.get("eval_loss_before") is None

    if run.stop_request.exists():
        log.info("stop requested before training started")
        return Outcome("stopped", {"steps": 0}, job.trainer, decisions)
    result = train(job)
    eval_before = status.data.get("eval_loss_before")
    eval_after = job.trainer.evaluate()["eval_loss"] if data.eval is not None else None  # the final eval line
    save(job, initial)
    check_replicas(job)
    samples_after(job, samples)
    job.metrics.close()
    return final_outcome(job, result.training_loss, eval_before, eval_after)


def load_data(config: RunConfig, decisions: list[str]) -> Data:
    """The rows, read and checked (data/load.py), split into training and held-out rows."""
    from ftwiz.data.load import load_rows, split_rows

    rows, fmt, data_decisions = load_rows(config.data, config.method)
    _note(decisions, *data_decisions)
    train_ds, eval_ds = split_rows(rows, config.data.val_size, config.train.seed)
    log.info("data: %d training rows, %d held out (%s)", len(train_ds), len(eval_ds or []), fmt)
    return Data(train_ds, eval_ds, fmt)


def build_trainer(
    run: RunDir,
    config: RunConfig,
    status: StatusWriter,
    data: Data,
    decisions: list[str],
    *,
    checkpoint: Path | None,
    main: bool,
) -> Job:
    """Tokenizer and model, then the trainer with the callback that writes the run folder; a multi-process run's
    engine is checked against distributed.strategy at once."""
    from ftwiz.train import build, distributed
    from ftwiz.train.callbacks import RunFolderCallback

    log.info("loading tokenizer and model %s", config.model.id)
    tokenizer = build.load_tokenizer(config, decisions)
    model = build.load_model(config)

    metrics = MetricsWriter(run) if main else NullMetrics()
    deadline = status.data.get("deadline_at")
    deadline_ts = datetime.fromisoformat(deadline).timestamp() if deadline else None
    callback = RunFolderCallback(run, status, metrics, deadline_ts)
    trainer = build.make_trainer(config, model, tokenizer, data.train, data.eval, run, [callback], decisions)
    if (chunking := build.packing(config)[2]) is not None:
        _note(decisions, chunking)
    if (engine := distributed.check_engine(trainer, config)) is not None:
        log.info("%s", engine)
        status.update(strategy=config.distributed.strategy)
    return Job(run, config, status, decisions, checkpoint, main, data, tokenizer, trainer, callback, metrics)


def check(job: Job) -> None:
    """Before the first step: which tokens carry loss, the parameter counts, and (rank 0) plan.json and whether
    the disk holds the checkpoints. Refuses (BadInput) what would not be a run."""
    config, data, trainer = job.config, job.data, job.trainer
    prompts_masked = config.method == "sft" and config.data.train_on == "assistant" and data.fmt != "text"
    loss_report(trainer, job.tokenizer, len(data.train), job.decisions, job.status, prompts_masked=prompts_masked)
    trainable, total = param_counts(trainer.model)
    log.info("parameters: %s trainable of %s (%.3f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    job.status.update(trainable_params=trainable, total_params=total, decisions=job.decisions)
    if job.main:
        share = float(job.status.data.get("loss_token_share") or 1.0)
        planned = estimate_run(config, trainer.model, rows=len(data.train) + len(data.eval or []), loss_share=share)
        write_plan(job.run, planned)
        check_disk(job.run, config, trainer, trainable, total, planned)


def samples_before(job: Job) -> Samples:
    """The base model's answers to a few held-out prompts, into samples.json/.md (a resumed run reads them back)."""
    from ftwiz.train import distributed, samples

    data = job.data
    # Generating from a sharded model (FSDP, ZeRO-3) needs every process in lockstep; rank 0 alone would wait
    # forever for the others' shards. Such runs skip the samples (`ftwiz chat` tries the adapter afterwards).
    sampling = job.main and not distributed.sharded(job.config)
    if job.main and not sampling:
        _note(
            job.decisions, "no before/after samples: the model is sharded over the processes (ftwiz chat RUN tries it)"
        )
    prompts = samples.pick_prompts(data.eval if data.eval is not None else data.train) if sampling else []
    previous = read_json(job.run.samples_json) if job.checkpoint else None
    if previous and len(previous) == len(prompts):  # resumed: the base model's answers were recorded at the start
        return Samples(sampling, prompts, [record["before"] for record in previous])
    if sampling:
        before = samples.generate(job.trainer.model, job.tokenizer, prompts)
        write_samples(job.run, samples.to_records(prompts, before, None))
        return Samples(sampling, prompts, before)
    return Samples(sampling, prompts)


def train(job: Job) -> Any:
    """`trainer.train()`, from the latest checkpoint when there is one; rank 0 records `system` lines meanwhile."""
    checkpoint = job.checkpoint
    if checkpoint is not None:
        _note(job.decisions, f"resumed from {checkpoint.name} (optimizer, scheduler, RNG and data position restored)")
        job.status.update(decisions=job.decisions)
        log.info("resuming from %s", checkpoint)
    log.info("training")
    recorder = _system_recorder(job.metrics, job.status) if job.main else None
    try:
        return job.trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        if recorder is not None:
            recorder.close()


def save(job: Job, initial: Path | None) -> None:
    """The adapter (or the whole model) and the tokenizer into adapter/."""
    trainer, run = job.trainer, job.run
    if initial is not None:  # PiSSA/OLoRA: an adapter that loads on the original base, not the residual one
        if job.main:
            trainer.model.save_pretrained(str(run.adapter), path_initial_model_for_weight_conversion=str(initial))
    else:
        trainer.save_model(str(run.adapter))  # writes on the main process only
    if job.main:
        job.tokenizer.save_pretrained(str(run.adapter))
    log.info("saved %s to %s", "model" if job.config.adapter.whole_model else "adapter", run.adapter)


def check_replicas(job: Job) -> None:
    """A multi-process run's processes must hold the same weights after training (distributed.replicas_agree)."""
    from ftwiz.train import distributed

    agree = distributed.replicas_agree(job.trainer)
    if agree:
        log.info("distributed: all %d replicas hold the same weights after training", distributed.world_size())
    elif agree is False:  # after the save: the work is kept for inspection
        raise RuntimeError(
            "the processes hold different weights after training: their gradients were not exchanged, so the "
            f"saved {'model' if job.config.adapter.whole_model else 'adapter'} is one process's alone"
        )


def samples_after(job: Job, samples: Samples) -> None:
    """The trained model's answers to the same prompts, beside the base model's in samples.md."""
    from ftwiz.train.samples import generate, to_records

    if samples.taken:
        after = generate(job.trainer.model, job.tokenizer, samples.prompts)
        write_samples(job.run, to_records(samples.prompts, samples.before, after))


def final_outcome(job: Job, train_loss: float, eval_before: float | None, eval_after: float | None) -> Outcome:
    """status.json's `final` numbers, and how the run ended: completed, or stopped (a stop request, SIGTERM, the
    deadline); early stopping completes the run, with a decision that says so."""
    trainer, callback, config, decisions = job.trainer, job.callback, job.config, job.decisions
    final = {
        "steps": trainer.state.global_step,
        "train_loss": train_loss,
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
