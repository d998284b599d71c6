"""What would fail in the worker, refused now with exit 2 and before any run folder exists: a missing path or
model, a distribution the machine cannot run, CPU offload beyond its RAM, bad data rows. Also the one choice
made for the user: on several GPUs, a config that says nothing about distribution uses them all.

`commands.launch.start` chooses the distribution first and preflights the config that will really run.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ftwiz.commands.data import LOSING_SHARE_ALLOWED, AnswerFit, config_answer_fit, looks_local, scan_config
from ftwiz.commands.inspect import of_config
from ftwiz.config.schema import RunConfig
from ftwiz.data.load import check_method, judge
from ftwiz.errors import BadInput
from ftwiz.hardware.probe import Hardware, probe_hardware
from ftwiz.models.resolve import resolve_model
from ftwiz.models.spec import context_length
from ftwiz.plan.choices import MARGIN
from ftwiz.plan.estimate import estimate


def check_distributed(config: RunConfig, gpus: int | None = None) -> None:
    """What `accelerate launch` would only say deep in its log, or not at all: a missing engine or rendezvous
    address, or FSDP/DeepSpeed on a machine without GPUs (accelerate would quietly run DDP instead).
    `gpus`: NVIDIA GPUs on this machine (None: ask NVML)."""
    d = config.distributed
    if d.num_processes > 1 and d.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise BadInput(
            f"distributed.strategy: {d.strategy} needs DeepSpeed, which is not installed",
            hint="pip install deepspeed (it compiles its ops for your CUDA), or use distributed.strategy fsdp.",
        )
    if d.num_processes > 1 and d.cpu_offload and d.strategy == "ddp":
        raise BadInput(
            "distributed.cpu_offload: DDP keeps a whole replica on every GPU; only sharded states can be offloaded",
            hint="--set distributed.strategy=fsdp (or deepspeed-zero2/-zero3) with cpu_offload.",
        )
    converts = config.adapter.init_lora_weights in ("pissa", "olora")
    if converts and d.num_processes > 1 and d.strategy in ("fsdp", "deepspeed-zero3"):
        raise BadInput(
            f"adapter.init_lora_weights: {config.adapter.init_lora_weights} converts the adapter on save, which "
            f"needs the whole adapter in one process; distributed.strategy {d.strategy} splits it",
            hint="Use distributed.strategy ddp (or deepspeed-zero2), or adapter.init_lora_weights default.",
        )
    if d.num_processes % d.num_machines:
        raise BadInput(
            f"distributed.num_processes: {d.num_processes} processes do not split evenly over "
            f"{d.num_machines} machines (num_processes is the total, as in accelerate)"
        )
    if d.num_processes > 1:
        if gpus is None:
            gpus = len(probe_hardware().gpus)
        if gpus == 0 and d.strategy != "ddp":
            raise BadInput(
                f"distributed.strategy: {d.strategy} needs NVIDIA GPUs, and this machine has none",
                hint="Without GPUs, processes train over gloo as DDP: --set distributed.strategy=ddp.",
            )
        here = d.num_processes // d.num_machines
        usable = len(config.hardware.gpus) if config.hardware.gpus is not None else gpus
        if gpus and here > usable:  # one process a GPU (a machine without GPUs runs CPU processes over gloo)
            which = "selected in hardware.gpus" if config.hardware.gpus is not None else "on this machine"
            raise BadInput(
                f"distributed.num_processes: {here} processes on this machine, one a GPU, but {usable} GPU(s) {which}",
                hint=f"--set distributed.num_processes={usable * d.num_machines} (the total over all machines).",
            )
    if d.num_machines > 1 and not d.main_process_ip:
        raise BadInput(
            "distributed.main_process_ip: a run over several machines needs the address of machine 0",
            hint="--set distributed.main_process_ip=10.0.0.1 (the same on every machine, with its machine_rank).",
        )
    if d.machine_rank >= d.num_machines:
        raise BadInput(f"distributed.machine_rank: {d.machine_rank} with num_machines {d.num_machines}")


def choose_distribution(
    config: RunConfig, gpus: int, gpu_bytes: int | None, inspection: dict[str, Any] | None = None
) -> tuple[RunConfig, str | None]:
    """More than one GPU here and no `distributed` choice in the config: use them all, DDP when a replica fits
    one GPU, FSDP when it does not, FSDP with CPU offload when even the shards do not (the estimate of
    plan/estimate.py, less the planner's margin). Returns the config to run and what was decided."""
    d = config.distributed
    if gpus <= 1 or d.model_fields_set & {"num_processes", "strategy"} or config.hardware.gpus is not None:
        return config, None

    def spread(strategy: str, offload: bool = False) -> RunConfig:
        changed = d.model_copy(update={"num_processes": gpus, "strategy": strategy, "cpu_offload": offload})
        return config.model_copy(update={"distributed": changed})

    chosen, why = spread("ddp"), "a replica fits each GPU"
    if gpu_bytes:
        inspection = inspection or of_config(config)
        budget = gpu_bytes * (1 - MARGIN)

        def peak(candidate: RunConfig) -> int:
            return estimate(candidate, inspection).peak_bytes

        # With the config's own batch and length, DDP is the fastest when it fits (no weight traffic); then FSDP,
        # then FSDP with the states in host memory (the planner weighs DeepSpeed too: `ftwiz plan`).
        replica = peak(chosen)
        if replica > budget:
            chosen = spread("fsdp")
            why = f"one replica needs ~{replica / 2**30:.0f} GiB, more than one GPU's {gpu_bytes / 2**30:.0f} GiB"
            sharded = peak(chosen)
            if sharded > budget:
                chosen = spread("fsdp", offload=True)
                why += f"; even sharded ~{sharded / 2**30:.0f} GiB, so the states go to host memory"
    c = chosen.distributed
    how = c.strategy.upper() + (" + CPU offload" if c.cpu_offload else "")
    return (
        chosen,
        f"{gpus} GPUs here: training on all of them with {how} ({why}); set distributed.num_processes=1 to use one",
    )


def check_host_memory(config: RunConfig, host_ram: int | None, inspection: dict[str, Any] | None = None) -> None:
    """CPU offload keeps the sharded states in this machine's RAM: refuse when even the estimate's lower bound
    does not fit (the kernel's OOM killer would end the run, or the box, far less clearly). `host_ram`: bytes
    (None: unknown, nothing to check)."""
    d = config.distributed
    if not (d.cpu_offload and d.num_processes > 1 and d.strategy != "ddp") or not host_ram:
        return
    need = estimate(config, inspection or of_config(config)).host_ram_bytes or 0
    here = d.num_processes // d.num_machines
    if need > host_ram:
        raise BadInput(
            f"distributed.cpu_offload: the offloaded states need at least {need / 2**30:.0f} GiB of this machine's "
            f"RAM ({need / here / 2**30:.0f} GiB x {here} processes), it has {host_ram / 2**30:.0f} GiB",
            hint="Use more GPUs (or machines) to split the states further, QLoRA, or a machine with more RAM.",
        )


def check_context(config: RunConfig, model_config: dict[str, Any]) -> None:
    """data.max_length beyond the model's context trains positions the model never saw (RoPE models drift,
    learned positions fail with an index error deep in the first step): refused, with the length that fits."""
    context = context_length(model_config)
    if context and config.data.max_length > context:
        raise BadInput(
            f"data.max_length: {config.data.max_length:,} tokens is longer than {config.model.id}'s context "
            f"({context:,} tokens, max_position_embeddings in its config.json)",
            hint=f"--set data.max_length={context} or less (`ftwiz data check DATA --tokenizer MODEL` recommends one).",
        )


def judge_answer_fit(fit: AnswerFit | None, config: RunConfig) -> list[str]:
    """More than 1% of rows losing their whole answer at data.max_length is a mistake, not a run: refused
    unless data.on_error: skip, which drops them (said here, and counted again by the worker)."""
    if fit is None or not fit.losing:
        return []
    counted = (
        f"{fit.losing:,} of {fit.rows:,} rows ({fit.share:.1%}) would lose their whole answer at data.max_length "
        f"{fit.max_length:,}: every trained token lies beyond it"
    )
    if fit.share > LOSING_SHARE_ALLOWED and config.data.on_error == "stop":
        raise BadInput(
            f"data.max_length: {counted}, so training would drop them",
            hint=f"Raise data.max_length (--set data.max_length={fit.suggested} keeps 99% of the answers), or "
            "set data.on_error: skip to train without those rows.",
        )
    return [f"{counted}; they will be dropped" + (" (data.on_error: skip)" if fit.share > LOSING_SHARE_ALLOWED else "")]


def preflight(config: RunConfig, hardware: Hardware) -> list[str]:
    """Catch what would fail in the worker now, with exit 2, rather than in its log: a distribution this machine
    cannot run, a missing local path, an unknown or gated hub model, a config that needs trust_remote_code, CPU
    offload beyond this machine's RAM, a max_length beyond the model's context, bad data rows (unless on_error:
    skip), more than 1% of rows losing their whole answer to max_length (when the model's tokenizer is here).
    Returns what the user should know before the run starts."""
    check_distributed(config, len(hardware.gpus))
    resolved = resolve_model(config.model.id, trust_remote_code=config.model.trust_remote_code)
    check_context(config, resolved.config)
    check_host_memory(config, hardware.host_ram_bytes)
    # The worker checks again (and on_error: skip is applied there); stopping here leaves no run folder.
    rows: list[dict[str, Any]] = []
    report = scan_config(config, keep=rows)
    if report is not None:
        judge(report, config.data)
        check_method(report.format, config.method, config.data.path)
        return judge_answer_fit(config_answer_fit(config, rows), config)
    if looks_local(config.data.path):
        raise BadInput(
            f"data.path: {config.data.path}: no such file or folder",
            hint="Check the path (relative to this shell's folder).",
        )
    return []
