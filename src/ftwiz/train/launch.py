"""Create a run folder for a RunConfig and start the worker in its own session.

The worker is `python -m ftwiz.train RUN_DIR`, started with `start_new_session=True`: it has no controlling
terminal, so closing the terminal, dropping SSH or Ctrl-C in the launching shell does not reach it. Only
stop requests (files in the run folder) and signals sent on purpose do. Light: no torch here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from ftwiz import bundled
from ftwiz.config.presets import to_yaml
from ftwiz.config.schema import DistributedConfig, RunConfig
from ftwiz.data.check import SUFFIXES
from ftwiz.errors import BadInput
from ftwiz.redact import redact
from ftwiz.runs.store import RunDir, create_run, utc_now, write_json_atomic, write_text_atomic


def default_run_name(config: RunConfig, preset: str | None) -> str:
    """The preset's name, else the model's last path component, made safe for a folder name."""
    if config.output.run_name:
        return config.output.run_name
    base = preset or Path(config.model.id.rstrip("/")).name or "run"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "run"


def check_distributed(config: RunConfig, gpus: int | None = None) -> None:
    """What `accelerate launch` would only say deep in its log, or not at all: a missing engine or rendezvous
    address, or FSDP/DeepSpeed on a machine without GPUs (accelerate would quietly run DDP instead).
    `gpus`: NVIDIA GPUs on this machine (None: ask NVML)."""
    import importlib.util

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
            from ftwiz.hardware.probe import probe_hardware

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


def choose_distribution(config: RunConfig, gpus: int, gpu_bytes: int | None) -> tuple[RunConfig, str | None]:
    """More than one GPU here and no `distributed` choice in the config: use them all, DDP when a replica fits
    one GPU, FSDP when it does not (the planner's estimate). Returns the config to run and what was decided."""
    d = config.distributed
    if gpus <= 1 or d.model_fields_set & {"num_processes", "strategy"} or config.hardware.gpus is not None:
        return config, None
    strategy, offload, why = "ddp", False, "a replica fits each GPU"
    if gpu_bytes:
        from dataclasses import replace

        from ftwiz.models.inspect import inspect_reference
        from ftwiz.models.spec import ModelSpec
        from ftwiz.plan.memory import TrainSetup, estimate_memory
        from ftwiz.plan.recommend import MARGIN

        inspection = inspect_reference(config.model.id, rank=config.adapter.r, isolate=True)
        spec = ModelSpec.from_dict(inspection["spec"])
        setup = TrainSetup.from_run_config(config, None, "bfloat16")
        budget = gpu_bytes * (1 - MARGIN)

        def peak(strategy: str, offload: bool = False) -> int:
            chosen = replace(setup, strategy=strategy, world_size=gpus, cpu_offload=offload)  # type: ignore[arg-type]
            return estimate_memory(spec, inspection, chosen).total

        # With the config's own batch and length, DDP is the fastest when it fits (no weight traffic); then FSDP,
        # then FSDP with the states in host memory (the planner weighs DeepSpeed too: `ftwiz plan`).
        replica = peak("ddp")
        if replica > budget:
            strategy = "fsdp"
            why = f"one replica needs ~{replica / 2**30:.0f} GiB, more than one GPU's {gpu_bytes / 2**30:.0f} GiB"
            if peak("fsdp") > budget:
                offload = True
                why += f"; even sharded ~{peak('fsdp') / 2**30:.0f} GiB, so the states go to host memory"
    chosen = config.model_copy(
        update={
            "distributed": d.model_copy(update={"num_processes": gpus, "strategy": strategy, "cpu_offload": offload})
        }
    )
    return chosen, (
        f"{gpus} GPUs here: training on all of them with {strategy.upper()}{' + CPU offload' if offload else ''} "
        f"({why}); set distributed.num_processes=1 to use one"
    )


def node_commands(config_path: str, d: DistributedConfig, overrides: Sequence[str] = ()) -> list[str]:
    """The exact command for every machine of a run, machine 0 first (one command on one machine). The wizard
    prints them for its config; `ftwiz plan` with its plan as `overrides` (KEY=VALUE)."""
    sets = list(overrides)
    if d.num_processes > 1:
        sets += [f"distributed.num_processes={d.num_processes}", f"distributed.strategy={d.strategy}"]
        if d.cpu_offload:
            sets.append("distributed.cpu_offload=true")
    if d.num_machines > 1:
        sets += [
            f"distributed.num_machines={d.num_machines}",
            f"distributed.main_process_ip={d.main_process_ip or 'HOST'}",
            f"distributed.main_process_port={d.main_process_port}",
        ]
    head = ["ftwiz", "train", config_path, "--headless", "--detach", *(a for kv in sets for a in ("--set", kv))]
    if d.num_machines == 1:
        return [shlex.join(head)]
    return [shlex.join([*head, "--set", f"distributed.machine_rank={r}"]) for r in range(d.num_machines)]


def check_host_memory(config: RunConfig, host_ram: int | None = None) -> None:
    """CPU offload keeps the sharded states in this machine's RAM: refuse when even the estimate's lower bound
    does not fit (the kernel's OOM killer would end the run, or the box, far less clearly). `host_ram`: bytes
    (None: this machine's)."""
    d = config.distributed
    if not (d.cpu_offload and d.num_processes > 1 and d.strategy != "ddp"):
        return
    if host_ram is None:
        from ftwiz.hardware.probe import probe_hardware

        host_ram = probe_hardware().host_ram_bytes
    if not host_ram:
        return
    from ftwiz.models.inspect import inspect_reference
    from ftwiz.models.spec import ModelSpec
    from ftwiz.plan.memory import TrainSetup, estimate_memory

    inspection = inspect_reference(config.model.id, rank=config.adapter.r, isolate=True)
    setup = TrainSetup.from_run_config(config, None, "bfloat16")
    per_process = estimate_memory(ModelSpec.from_dict(inspection["spec"]), inspection, setup).offloaded
    need = per_process * (d.num_processes // d.num_machines)
    if need > host_ram:
        raise BadInput(
            f"distributed.cpu_offload: the offloaded states need at least {need / 2**30:.0f} GiB of this machine's "
            f"RAM ({per_process / 2**30:.0f} GiB x {d.num_processes // d.num_machines} processes), it has "
            f"{host_ram / 2**30:.0f} GiB",
            hint="Use more GPUs (or machines) to split the states further, QLoRA, or a machine with more RAM.",
        )


def preflight(config: RunConfig) -> None:
    """Catch what would fail in the worker now, with exit 2, rather than in its log: a missing local path, an
    unknown or gated hub model, a config that needs trust_remote_code, bad data rows (unless on_error: skip)."""
    from ftwiz.models.resolve import resolve_model

    check_distributed(config)
    resolve_model(config.model.id, trust_remote_code=config.model.trust_remote_code)
    check_host_memory(config)
    ref = config.data.path
    path = Path(bundled.resolve(ref, key="data.path")).expanduser()
    looks_local = ref.startswith((".", "/", "~")) or path.suffix.lower() in SUFFIXES
    if path.exists():
        # The worker checks again (and on_error: skip is applied there); stopping here leaves no run folder.
        from ftwiz.data.check import scan
        from ftwiz.data.load import check_method, judge
        from ftwiz.data.source import rows_from

        fmt = None if config.data.format == "auto" else config.data.format
        rows = rows_from(str(path), subset=config.data.subset, split=config.data.split)
        report = scan(rows, fmt=fmt, columns=config.data.columns)
        judge(report, config.data)
        check_method(report.format, config.method, config.data.path)
    elif looks_local:
        raise BadInput(
            f"data.path: {ref}: no such file or folder", hint="Check the path (relative to this shell's folder)."
        )


def prepare_run(config: RunConfig, *, argv: list[str], preset: str | None = None) -> RunDir:
    """A new run folder holding the frozen config, the command that made it, and a `queued` status."""
    name = default_run_name(config, preset)
    config = config.model_copy(update={"output": config.output.model_copy(update={"run_name": name})})
    run = create_run(Path(config.output.runs_dir).expanduser(), name)
    write_text_atomic(run.config, to_yaml(config))
    write_text_atomic(run.command, redact(shlex.join(argv)) + "\n")
    write_json_atomic(run.status, {"state": "queued", "run_id": run.id, "created_at": utc_now()})
    return run


def accelerate_config(config: RunConfig) -> dict[str, object]:
    """The accelerate config for a multi-process run (written to the run folder, then `accelerate launch`).

    DDP: `MULTI_GPU` starts one process a GPU through torch's elastic launcher. On a machine without GPUs the
    same launcher starts CPU processes and the Trainer joins them over gloo (accelerate's `MULTI_CPU` type would
    wait for mpirun and quietly start a single process)."""
    d = config.distributed
    common = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_processes": d.num_processes,
        "num_machines": d.num_machines,
        "machine_rank": d.machine_rank,
        "main_process_ip": d.main_process_ip,
        "main_process_port": d.main_process_port,
        "rdzv_backend": "static",
        "same_network": True,
        "gpu_ids": "all",
        "mixed_precision": "no",  # the Trainer's bf16/fp16 arguments decide it
        "dynamo_config": {},
        "use_cpu": False,
        "debug": False,
        "downcast_bf16": "no",
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "tpu_env": [],
    }
    if d.strategy == "fsdp":
        return {
            **common,
            "distributed_type": "FSDP",
            "fsdp_config": {
                "fsdp_version": 2,
                # One shard unit per decoder layer: accelerate takes the classes from the model's
                # `_no_split_modules` when none are named.
                "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                "fsdp_state_dict_type": "FULL_STATE_DICT",  # the saved adapter/model loads without FSDP
                "fsdp_cpu_ram_efficient_loading": True,
                "fsdp_offload_params": d.cpu_offload,
                "fsdp_reshard_after_forward": True,
                # FSDP checkpoints activations itself (the Trainer's own checkpointing is then turned off).
                "fsdp_activation_checkpointing": config.train.gradient_checkpointing,
            },
        }
    if d.strategy.startswith("deepspeed"):
        stage = 3 if d.strategy.endswith("3") else 2
        offload = "cpu" if d.cpu_offload else "none"
        return {
            **common,
            "distributed_type": "DEEPSPEED",
            "deepspeed_config": {
                "zero_stage": stage,
                "gradient_accumulation_steps": config.train.gradient_accumulation_steps,
                "gradient_clipping": 1.0,
                "offload_optimizer_device": offload,
                "offload_param_device": offload if stage == 3 else "none",
                "zero3_init_flag": stage == 3,
                "zero3_save_16bit_model": stage == 3,
            },
        }
    return common


def worker_command(run: RunDir, config: RunConfig) -> list[str]:
    """`python -m ftwiz.train RUN`, or the same through `accelerate launch` when the run spans processes."""
    target = str(run.path.resolve())
    if config.distributed.num_processes <= 1:
        return [sys.executable, "-m", "ftwiz.train", target]
    path = run.path / "accelerate.yaml"
    write_text_atomic(path, yaml.safe_dump(accelerate_config(config), sort_keys=False))
    launcher = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--config_file", str(path)]
    return [*launcher, "-m", "ftwiz.train", target]


def spawn_worker(run: RunDir) -> subprocess.Popen[bytes]:
    """Start the worker detached from this terminal; its output goes to train.log."""
    from ftwiz.config.presets import load_config_file

    config = load_config_file(run.config)
    command = worker_command(run, config)
    env = _worker_env()
    if config.hardware.gpus is not None:  # before the launcher: its processes take GPUs in this order
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in config.hardware.gpus)
    with run.log.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # train.log fills as it happens
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env
