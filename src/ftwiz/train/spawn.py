"""Start the worker of a run folder in its own session: `python -m ftwiz.train RUN`, or `accelerate launch`.

The worker is `python -m ftwiz.train RUN_DIR`, started with `start_new_session=True`: it has no controlling
terminal, so closing the terminal, dropping SSH or Ctrl-C in the launching shell does not reach it. Only
stop requests (files in the run folder) and signals sent on purpose do. Light: no torch here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from ftwiz.config.schema import RunConfig
from ftwiz.files import write_text_atomic
from ftwiz.runs.store import RunDir


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
