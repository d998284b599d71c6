"""`ftwiz doctor [--config C [--gpu G]]`: is this (often rented) machine ready to train, and does this run fit it?

The machine's facts (hardware/facts.py) judged by pure checks (hardware/readiness.py); with a config, its
needs come from the one estimate (plan/estimate.py), for the GPUs here, or for the card `gpu` names: the same
numbers `ftwiz plan` gives for the same knobs and card. On a GPU-less machine without `gpu` the estimate is in
bf16, as `ftwiz plan` assumes for a card it does not know.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ftwiz.commands.data import scan_config
from ftwiz.commands.inspect import of_config
from ftwiz.config.presets import load_config
from ftwiz.config.schema import RunConfig
from ftwiz.errors import FtwizError
from ftwiz.hardware.facts import Facts, gather_facts
from ftwiz.hardware.gpus import GpuChoice, local_card, parse_gpu
from ftwiz.hardware.probe import Probe
from ftwiz.hardware.readiness import Check, GpuNeed, diagnose
from ftwiz.plan.choices import MARGIN
from ftwiz.plan.estimate import Estimate, estimate
from ftwiz.runs.registry import runs_dir


@dataclass(frozen=True)
class DoctorOptions:
    config: str | None = None
    """A config file or preset: also check its GPU memory, disk and RAM against the machine."""
    gpu: str | None = None
    """With config: the card to check it against (`ftwiz plan`'s --gpu syntax) instead of this machine's."""
    runs_dir: str | None = None
    """Where runs go (its free disk is checked)."""


@dataclass(frozen=True)
class Needs:
    """What one run asks of a machine (`doctor --json`'s `needs`)."""

    gpu_bytes: int  # the planner's peak per GPU
    disk_bytes: int | None  # checkpoints at their worst moment plus the final save; None when steps are unknown
    ram_bytes: int | None  # CPU offload: the offloaded states of this machine's processes
    steps: int | None
    dtype: str  # what the estimate assumed the run trains in
    gpu: str | None  # the card it was estimated for (None: no GPU known)

    @classmethod
    def of(cls, e: Estimate) -> Needs:
        card = None if e.gpu is None else e.gpu.label
        return cls(e.peak_bytes, e.disk_bytes, e.host_ram_bytes, e.steps, e.setup.dtype, card)


@dataclass(frozen=True)
class DoctorResult:
    checks: list[Check]
    facts: Facts
    needs: Needs | None = None

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        data = {"checks": [asdict(c) for c in self.checks], "facts": self.facts.to_dict()}
        return data | ({"needs": asdict(self.needs)} if self.needs else {})


def run(options: DoctorOptions, *, probe: Probe | None = None) -> DoctorResult:
    """The checks (and a config's needs). A bad config or --gpu raises BadInput before the machine is looked at."""
    where = runs_dir(options.runs_dir)
    config = load_config(options.config).config if options.config else None
    named = parse_gpu(options.gpu) if options.gpu else None
    facts = gather_facts(where, probe=probe)
    needs = gpu_need = None
    if config is not None:
        choice = named or _local_card(facts)
        e = config_estimate(config, choice)
        needs = Needs.of(e)
        card, capacity = (named.label, named.gpu.memory_bytes) if named else (None, None)
        gpu_need = GpuNeed(e.peak_bytes, e.setup.dtype, card, capacity, margin=MARGIN)
    checks = diagnose(
        facts,
        need_disk_bytes=needs.disk_bytes if needs else None,
        need_ram_bytes=needs.ram_bytes if needs else None,
        gpu_need=gpu_need,
    )
    return DoctorResult(checks, facts, needs)


def config_estimate(config: RunConfig, gpu: GpuChoice | None) -> Estimate:
    """The one estimate of `config` on `gpu`, with its local data's row count for steps and disk."""
    return estimate(config, of_config(config), gpu, rows=training_rows(config))


def training_rows(config: RunConfig) -> int | None:
    """Valid rows in local data (None for a hub dataset, or data the checker cannot read: the run will say)."""
    try:
        report = scan_config(config)
    except (FtwizError, OSError, ValueError):
        return None
    return None if report is None else report.valid_rows


def _local_card(facts: Facts) -> GpuChoice | None:
    """This machine's first GPU (as torch or NVML saw it) as a card to estimate for; None without one."""
    if not facts.gpus:
        return None
    first = facts.gpus[0]
    return GpuChoice(local_card(first.name, first.total_bytes or 0, first.bf16), len(facts.gpus))
