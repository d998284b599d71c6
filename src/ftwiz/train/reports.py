"""What the worker writes into the run folder about the run itself, before and beside training: environment.txt,
the loss report (which tokens train), the parameter counts, plan.json (the planner's estimate), the disk check, and
samples.json/samples.md.
"""

from __future__ import annotations

import logging
import math
from importlib import metadata
from typing import TYPE_CHECKING, Any

from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput
from ftwiz.files import write_json_atomic, write_text_atomic
from ftwiz.runs.store import RunDir, StatusWriter

if TYPE_CHECKING:
    from ftwiz.plan.estimate import Estimate

log = logging.getLogger("ftwiz.train")


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


def loss_report(
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


def param_counts(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def estimate_run(config: RunConfig, model: Any, rows: int, loss_share: float = 1.0) -> Estimate | None:
    """The planner's estimate for this run (plan/estimate.py, the one every front end uses), given what the worker
    knows for sure: the dtype it loaded, PEFT's own target names, the installed stack, the fused head's kernel
    (Triton on CUDA, torch elsewhere) and the share of positions with a label. None when the model cannot be
    inspected."""
    import torch

    from ftwiz.hardware.stack import installed_stack
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
        kernel = "triton" if torch.cuda.is_available() else "torch"
        return estimate(
            config,
            inspection,
            dtype=dtype,
            targets=targets,
            rows=rows,
            stack=installed_stack(),
            kernel=kernel,
            loss_share=loss_share,
        )
    except Exception as exc:  # the estimate is a courtesy; training goes on without it
        log.warning("could not estimate this run: %s", exc)
        return None


def write_plan(run: RunDir, planned: Estimate | None) -> None:
    """plan.json: the planner's estimate for this run, beside what it will measure."""
    import torch

    if planned is not None:
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        write_json_atomic(run.plan, {**planned.to_dict(), "device": device})


def check_disk(
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


def write_samples(run: RunDir, records: list[dict[str, Any]]) -> None:
    """samples.json (what a resumed run reads its "before" answers back from) and samples.md (for people)."""
    from ftwiz.train.samples import to_markdown

    write_json_atomic(run.samples_json, records)
    write_text_atomic(run.samples, to_markdown(records))
