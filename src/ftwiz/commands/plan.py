"""`ftwiz plan`: gather the inputs (model, GPU, fixed knobs, data size), run the pure planner, hand back a Plan.

Never imports torch: catalog and cached models answer from their stored inspection; an unseen config is
inspected once in a subprocess and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ftwiz.data.check import CHARS_PER_TOKEN
from ftwiz.errors import BadInput
from ftwiz.hardware.gpus import GpuChoice, local_card, parse_gpu
from ftwiz.hardware.probe import probe_hardware
from ftwiz.hardware.stack import installed_stack
from ftwiz.models.inspect import inspect_reference
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.choices import DEFAULT_SEQ_LEN, Knobs, Plan
from ftwiz.plan.estimate import config_changes, set_arguments
from ftwiz.plan.recommend import recommend, which_gpu


@dataclass(frozen=True)
class PlanOptions:
    """`ftwiz plan`'s inputs. The knobs left None are recommended."""

    model: str
    """A hub id, a local folder or a config.json path."""
    gpu: str | None = None
    """A catalog card, a capacity or `N x` either (CONTRACTS.md); None: the GPUs of this machine."""
    knobs: Knobs = field(default_factory=Knobs)
    """What the user fixed (adapter, rank, micro-batch, length, accumulation, checkpointing, optimizer, targets,
    strategy, CPU offload)."""
    data: str | None = None
    """Training data: its size gives the token count (and, without knobs.seq_len, the sequence length)."""
    tokens: int | None = None
    """Tokens per epoch, instead of data."""
    epochs: float = 1.0
    which_gpu: bool = False
    """Rank the catalog's cards (and counts) instead of planning for one."""
    nodes: int = 1
    config: str = "CONFIG.yaml"
    """The config file named in the printed commands."""
    main_process_ip: str | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class PlanResult:
    plan: Plan | None  # None with which_gpu
    data: dict[str, Any]  # the JSON (CONTRACTS.md, plan)


@dataclass(frozen=True)
class DataSize:
    tokens: int
    p99: int  # tokens per row, 99th percentile
    rows: int


def data_size(path_text: str) -> DataSize:
    """Tokens in the data the run will train on, from the data checker's scan (the rendered text of each valid
    row, about 4 characters per token; no tokenizer, so the planner stays light)."""
    from ftwiz.data.check import scan
    from ftwiz.data.source import rows_from

    report = scan(rows_from(path_text))
    if not report.token_stats:
        raise BadInput(f"--data {path_text}: no usable rows", hint=f"`ftwiz data check {path_text}` says why.")
    return DataSize(report.token_stats["total"], report.token_stats["p99"], report.valid_rows)


def check_knobs(knobs: Knobs) -> None:
    """Knob combinations no plan can honour, refused with the flag to change."""
    if knobs.optimizer:
        from ftwiz.config.values import OPTIMIZERS

        if knobs.optimizer not in OPTIMIZERS:
            raise BadInput(f"--optimizer {knobs.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
    if knobs.strategy == "ddp" and knobs.cpu_offload:
        raise BadInput(
            "--cpu-offload: DDP keeps a whole replica on every GPU; only sharded states can live in host memory",
            hint="--strategy fsdp (or deepspeed-zero2/-zero3) with --cpu-offload, or leave --strategy open.",
        )


def local_gpu() -> tuple[GpuChoice, int]:
    """The GPU(s) in this machine and the memory free on the first one."""
    hw = probe_hardware()
    if not hw.has_gpu:
        raise BadInput(
            f"{hw.no_gpu_reason or 'no NVIDIA GPU'}: nothing to plan for here",
            hint="Plan for a card you could rent: --gpu A100-80GB (or 24GB, 4xH100-80GB), or rank them: --which-gpu.",
        )
    first = hw.gpus[0]
    return GpuChoice(local_card(first.name, first.total_bytes, first.bf16), len(hw.gpus)), first.free_bytes


def safetensors_check(ref: str, source: str, params_total: int) -> str | None:
    """Cross-check the parameter count with the repository's safetensors headers (read without downloading
    weights); a line for the reasons when they disagree by more than 1%, None when they agree or cannot be read."""
    if source not in ("hub", "hub-cache", "catalog"):
        return None
    from ftwiz.models.resolve import hub_reachable

    if not hub_reachable():
        return None
    try:
        from huggingface_hub import get_safetensors_metadata

        stored = sum(get_safetensors_metadata(ref, timeout=5).parameter_count.values())
    except Exception:  # no safetensors, gated without a token, network trouble: the estimate stands as it is
        return None
    if abs(stored - params_total) <= 0.01 * params_total:
        return None
    return (
        f"the repository's safetensors hold {stored / 1e9:,.2f}B parameters, the config gives "
        f"{params_total / 1e9:,.2f}B: the weights may include extra modules (vision tower, MTP heads) or be stored "
        "quantized"
    )


def run(args: PlanOptions) -> PlanResult:
    """The plan (None with which_gpu) and its JSON."""
    check_knobs(args.knobs)
    inspection = inspect_reference(args.model, trust_remote_code=args.trust_remote_code, isolate=True)
    spec = ModelSpec.from_dict(inspection["spec"])
    stack = installed_stack()
    knobs = replace(args.knobs, loss=args.knobs.loss or stack.default_loss)
    size = data_size(args.data) if args.data and args.tokens is None else None
    tokens = args.tokens if args.tokens is not None else (size.tokens if size else None)
    if size is not None and knobs.seq_len is None:  # rows decide the sequence length: p99, a multiple of 64
        knobs = replace(knobs, seq_len=min(max(64, 64 * math.ceil(size.p99 / 64)), spec.max_positions or 2**62))
    elif knobs.seq_len is None and spec.max_positions and spec.max_positions < DEFAULT_SEQ_LEN:
        knobs = replace(knobs, seq_len=spec.max_positions)  # the planner's default, never beyond the context
    if args.which_gpu:
        options = which_gpu(spec, inspection, knobs, tokens=tokens, epochs=args.epochs)
        return PlanResult(None, {"model": args.model, "tokens": tokens, "options": options})
    if args.gpu:
        choice, usable = parse_gpu(args.gpu), None
    else:
        choice, usable = local_gpu()
    if (knobs.strategy or knobs.cpu_offload) and choice.count * args.nodes == 1:
        raise BadInput(
            f"--{'strategy' if knobs.strategy else 'cpu-offload'}: one GPU has nothing to share the work with",
            hint="Plan for several: --gpu 4xA100-80GB, or --nodes 2.",
        )
    plan = recommend(
        spec, inspection, choice, knobs, usable_bytes=usable, tokens=tokens, epochs=args.epochs, nodes=args.nodes
    )
    if (mismatch := safetensors_check(args.model, inspection["source"], inspection["params_total"])) is not None:
        plan.reasons.append(mismatch)
    if size is not None:
        plan.reasons.append(data_reason(size, args.data or "", knobs.seq_len if args.knobs.seq_len is None else None))
    if (beyond := context_reason(plan.best.setup.seq_len, spec.max_positions)) is not None:
        plan.reasons.append(beyond)
    plan.reasons.append(stack.describe(knobs.loss or "fused"))
    plan.extra["stack"] = stack.to_dict(knobs.loss or "fused")
    if plan.best.fits:
        plan.extra["commands"] = train_commands(plan, args.config, args.main_process_ip)
    return PlanResult(plan, {"model": args.model, **plan.to_dict()})


def data_reason(size: DataSize, path: str, chosen: int | None) -> str:
    """The data's size and, when the rows chose the sequence length (`chosen`), why that length."""
    seq = ""
    if chosen is not None and chosen < 64 * math.ceil(size.p99 / 64):
        seq = f"; sequence length {chosen:,}: the model's context (99% of rows need {size.p99:,} tokens)"
    elif chosen is not None:
        seq = f"; sequence length {chosen:,} covers 99% of rows"
    return (
        f"{size.tokens:,} tokens in {size.rows:,} rows of {path} (approximate: characters / "
        f"{CHARS_PER_TOKEN:g}; `ftwiz data check --tokenizer` counts exactly){seq}"
    )


def context_reason(seq_len: int | None, context: int | None) -> str | None:
    """A warning when the planned sequence is longer than the model's context (the launch refuses it)."""
    if seq_len is None or context is None or seq_len <= context:
        return None
    return (
        f"sequence length {seq_len:,} is longer than the model's context ({context:,} tokens, "
        f"max_position_embeddings): the launch refuses data.max_length above {context:,}"
    )


def train_commands(plan: Plan, config_path: str, main_process_ip: str | None) -> list[str]:
    """`ftwiz train` with this plan's knobs, one command per machine (machine 0 first)."""
    from ftwiz.commands.launch import node_commands
    from ftwiz.config.schema import DistributedConfig

    s = plan.best.setup
    distributed = DistributedConfig(
        num_processes=plan.world_size,
        num_machines=plan.nodes,
        main_process_ip=main_process_ip,
        strategy="ddp" if s.strategy == "single" else s.strategy,
        cpu_offload=s.cpu_offload,
    )
    knobs = {k: v for k, v in config_changes(plan).items() if not k.startswith("distributed.")}
    return node_commands(config_path, distributed, set_arguments(knobs))
