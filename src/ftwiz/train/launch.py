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
from pathlib import Path

import yaml

from ftwiz import bundled
from ftwiz.config.presets import to_yaml
from ftwiz.config.schema import RunConfig
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


def preflight(config: RunConfig) -> None:
    """Catch what would fail in the worker now, with exit 2, rather than in its log: a missing local path, an
    unknown or gated hub model, a config that needs trust_remote_code, bad data rows (unless on_error: skip)."""
    from ftwiz.models.resolve import resolve_model

    resolve_model(config.model.id, trust_remote_code=config.model.trust_remote_code)
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
    return {
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

    command = worker_command(run, load_config_file(run.config))
    with run.log.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=_worker_env(),
        )


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # train.log fills as it happens
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env
