"""`ftwiz inspect`: a model's linear layers, fused expert parameters and LoRA target sets, no weights loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftwiz.config.schema import RunConfig
from ftwiz.models.inspect import inspect_reference


@dataclass(frozen=True)
class InspectOptions:
    model: str
    """A hub id, a local folder or a config.json path."""
    rank: int = 16
    """The LoRA rank of the trainable-parameter counts."""
    trust_remote_code: bool = False


def run(options: InspectOptions) -> dict[str, Any]:
    """The inspection (CONTRACTS.md, inspect JSON)."""
    return inspect_reference(options.model, rank=options.rank, trust_remote_code=options.trust_remote_code)


def of_config(config: RunConfig) -> dict[str, Any]:
    """The inspection of a config's model: shipped, cached, or built once in a subprocess (no torch here)."""
    return inspect_reference(
        config.model.id, rank=config.adapter.r, trust_remote_code=config.model.trust_remote_code, isolate=True
    )
