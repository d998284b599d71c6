"""Start a new run: the one path the CLI (`ftwiz train`, `ftwiz --preset ... --headless`) and the wizard's Launch
step share. `start` = choose the distribution -> preflight the config that will run -> run folder -> worker.

The worker runs in its own session (train/spawn.py): closing the terminal or dropping SSH does not reach it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ftwiz.commands.preflight import choose_distribution, preflight
from ftwiz.config.presets import to_yaml
from ftwiz.config.schema import DistributedConfig, RunConfig
from ftwiz.files import write_json_atomic, write_text_atomic
from ftwiz.hardware.probe import Hardware, probe_hardware
from ftwiz.redact import redact
from ftwiz.runs.store import RunDir, create_run, utc_now
from ftwiz.train.spawn import spawn_worker


@dataclass
class Started:
    """A run that was launched: its folder, its worker, and what was decided for the user on the way."""

    run: RunDir
    proc: subprocess.Popen[bytes]
    config: RunConfig  # what really runs (the distribution chosen)
    notes: list[str] = field(default_factory=list)


def start(
    config: RunConfig, *, argv: Sequence[str], preset: str | None = None, hardware: Hardware | None = None
) -> Started:
    """Launch `config`: on several GPUs a config silent about distribution uses them all; the preflight then
    refuses (BadInput, no folder made) whatever would fail in the worker, on the config that will run.
    `argv`: the command to record in command.txt (secrets redacted); `hardware`: this machine (probed if None)."""
    hardware = hardware or probe_hardware(config.output.runs_dir)
    notes = []
    if len(hardware.gpus) > 1:
        config, note = choose_distribution(config, len(hardware.gpus), min(g.total_bytes for g in hardware.gpus))
        notes += [note] if note else []
    notes += preflight(config, hardware)
    run = prepare_run(config, argv=list(argv), preset=preset)
    return Started(run, spawn_worker(run), config, notes)


GENERIC_FOLDERS = frozenset({"model", "models", "checkpoint", "final", "merged", "hf", "weights", "snapshot"})
"""Last path components that do not name a model (`ftwiz:tiny-demo/model`, `out/final`): the parent does."""


def default_run_name(config: RunConfig, preset: str | None) -> str:
    """`output.run_name`, else the preset's name, else the model's name and what the run trains (`phi-2-qlora`,
    `tiny-demo-dpo`), made safe for a folder name."""
    if config.output.run_name:
        return config.output.run_name
    if preset:
        base = preset
    else:
        parts = [p for p in re.split(r"[/:]", config.model.id.rstrip("/")) if p]
        while len(parts) > 1 and parts[-1].lower() in GENERIC_FOLDERS:
            parts.pop()
        what = config.adapter.type if config.method == "sft" else config.method
        base = f"{parts[-1] if parts else 'run'}-{what}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "run"


def prepare_run(config: RunConfig, *, argv: list[str], preset: str | None = None) -> RunDir:
    """A new run folder holding the frozen config, the command that made it, and a `queued` status."""
    name = default_run_name(config, preset)
    config = config.model_copy(update={"output": config.output.model_copy(update={"run_name": name})})
    run = create_run(Path(config.output.runs_dir).expanduser(), name)
    write_text_atomic(run.config, to_yaml(config))
    write_text_atomic(run.command, redact(shlex.join(argv)) + "\n")
    write_json_atomic(run.status, {"state": "queued", "run_id": run.id, "created_at": utc_now()})
    return run


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
