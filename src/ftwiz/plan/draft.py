"""A RunConfig being edited: what the wizard's screens change, and the planner's view of it.

Pure (no textual, no torch): the wizard is a thin layer over this, and the same RunConfig it produces is what
`ftwiz train CONFIG --headless` runs. A draft may be incomplete (no model yet); `config()` validates it.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ftwiz.config.presets import to_yaml, validate
from ftwiz.config.schema import RunConfig
from ftwiz.hardware.gpus import GIB, GpuChoice
from ftwiz.hardware.stack import Stack, installed_stack
from ftwiz.models.spec import ModelSpec
from ftwiz.plan.choices import MARGIN, Knobs, Plan
from ftwiz.plan.estimate import Estimate, config_changes, estimate
from ftwiz.plan.memory import MemoryBreakdown, TrainSetup
from ftwiz.plan.recommend import recommend
from ftwiz.plan.speed import SpeedEstimate

_PLACEHOLDER = "__unset__"


def _defaults() -> dict[str, Any]:
    config = RunConfig.model_validate({"model": {"id": _PLACEHOLDER}, "data": {"path": _PLACEHOLDER}})
    data = config.model_dump(mode="json")
    data["model"]["id"] = ""
    data["data"]["path"] = ""
    return data


NAMING_KEYS = frozenset({"model.id", "method", "adapter.type"})
"""What a preset's run name stands for: changing one drops the preset's name (the run is named afresh)."""


@dataclass
class Draft:
    """The wizard's one state: a RunConfig-shaped dict plus what the steps learned (GPU, inspection, data)."""

    values: dict[str, Any] = field(default_factory=_defaults)
    gpu: GpuChoice | None = None
    """What the plan is for: this machine's GPU(s), or a catalog card picked on a GPU-less machine."""
    usable_bytes: int | None = None
    """Free memory on the local GPU (other processes hold the rest); None: the card's capacity."""
    inspection: dict[str, Any] | None = None
    tokens: int | None = None
    """Training tokens from the data check (approximate without a tokenizer), for time and cost."""
    preset: str | None = None
    stack: Stack = field(default_factory=installed_stack)
    """The libraries a run would train with here (the loss path and its tiles), as `ftwiz plan` and the worker
    read them."""

    @classmethod
    def from_config(cls, config: RunConfig, preset: str | None = None) -> Draft:
        return cls(values=config.model_dump(mode="json"), preset=preset)

    def get(self, path: str) -> Any:
        node: Any = self.values
        for key in path.split("."):
            node = node[key]
        return node

    def set(self, path: str, value: Any) -> None:
        *parents, last = path.split(".")
        node = self.values
        for key in parents:
            node = node[key]
        changed = node.get(last) != value
        node[last] = value
        if changed and path in NAMING_KEYS and self.preset and self.values["output"].get("run_name") == self.preset:
            # No longer the preset's run (Recommend switched the method, another model): its name would mislead.
            self.values["output"]["run_name"] = None
            self.preset = None
        if path == "adapter.type":  # QLoRA is LoRA on a 4-bit base: keep quant consistent with the choice
            self.values["quant"]["bits"] = 4 if value == "qlora" else "none"

    def config(self) -> RunConfig:
        """The validated RunConfig, or ConfigError with one line per problem."""
        return validate(copy.deepcopy(self.values), source="the wizard")

    def yaml(self) -> str:
        return to_yaml(self.config())

    # -- the planner's view: plan/estimate.py, the mapping doctor, the launcher and the worker use too ---------
    @property
    def spec(self) -> ModelSpec | None:
        return ModelSpec.from_dict(self.inspection["spec"]) if self.inspection else None

    @property
    def budget_bytes(self) -> int | None:
        if self.gpu is None:
            return None
        usable = self.usable_bytes if self.usable_bytes is not None else self.gpu.gpu.memory_bytes
        return int(usable * (1 - MARGIN))

    def estimated(self) -> Estimate | None:
        """The one estimate of the current choices (None until a model is inspected, or while the draft does not
        validate)."""
        if self.inspection is None:
            return None
        try:
            config = RunConfig.model_validate(copy.deepcopy(self.values))
        except ValidationError:
            return None
        return estimate(
            config, self.inspection, self.gpu, usable_bytes=self.usable_bytes, tokens=self.tokens, stack=self.stack
        )

    def setup(self) -> TrainSetup | None:
        estimated = self.estimated()
        return None if estimated is None else estimated.setup

    def memory(self) -> MemoryBreakdown | None:
        """The estimator's breakdown for the current choices (None until a model is inspected)."""
        estimated = self.estimated()
        return None if estimated is None else estimated.memory

    def speed(self) -> SpeedEstimate | None:
        estimated = self.estimated()
        return None if estimated is None else estimated.speed

    def estimate(self) -> tuple[float | None, float | None]:
        """(seconds, cost in USD) for the whole run, when the data's size and the GPU are known."""
        estimated = self.estimated()
        return (None, None) if estimated is None else (estimated.seconds, estimated.cost)

    def recommend(self) -> Plan:
        """The planner's choice for this model, GPU and data. It keeps what is the user's to decide for quality —
        target modules, rank, the sequence length the data step set — and chooses what decides fit and speed, and
        the learning rate that goes with the adapter it chose."""
        assert self.inspection is not None and self.gpu is not None, "inspect a model and pick a GPU first"
        knobs = Knobs(
            targets=self.get("adapter.target_modules"),
            rank=int(self.get("adapter.r")),
            seq_len=int(self.get("data.max_length")),
            loss=None if self.stack.fused_head else "full",  # None: the fused head, ORPO's whole logits
        )
        return recommend(
            self.spec,
            self.inspection,
            self.gpu,
            knobs,
            usable_bytes=self.usable_bytes,
            tokens=self.tokens,
            method=self.get("method"),
        )

    def apply(self, plan: Plan) -> None:
        """Take a plan's configuration into the draft."""
        for key, value in config_changes(plan).items():
            self.set(key, value)

    def fits(self) -> bool | None:
        memory, budget = self.memory(), self.budget_bytes
        return None if memory is None or budget is None else memory.total <= budget

    def headless_command(self, path: str) -> str:
        return shlex.join(["ftwiz", "train", path, "--headless"])


def about(seconds: float) -> str:
    """A duration as people say it: about 45 s, about 12 min, about 2.5 h; never "about 0 s" (a run of a tiny
    model on a big card takes under a second; no speed known is "time unknown")."""
    if seconds <= 0:
        return "time unknown"
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min" if seconds < 5400 else f"about {seconds / 3600:.1f} h"


def gib(n: float | None) -> str:
    """Memory for people: GiB, or MiB below one GiB (a tiny model's terms would all read 0.0 GiB)."""
    if n is None:
        return "–"
    return f"{n / GIB:.1f} GiB" if n >= GIB / 2 else f"{n / 2**20:.0f} MiB"
