"""Which training stack is installed, read without importing it: the versions (importlib.metadata) and the code
paths of the installed TRL that decide memory (its fused LM head and that head's tile sizes, read from its source).

The planner models what this says. A planning-only install (no TRL, e.g. a laptop planning before renting)
assumes the versions ftwiz is tested with, and says so.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGES = ("trl", "transformers", "peft", "torch", "bitsandbytes", "accelerate", "liger-kernel", "kernels")
# The versions ftwiz's tests and CPU measurements (benchmarks/memory/RESULTS.md) ran with.
TESTED = {"trl": "1.16.0", "transformers": "5.24.0", "peft": "0.21.2", "torch": "2.13.0", "bitsandbytes": "0.50.2"}
# TRL's fused LM head (trl/kernels/chunked_logprob.py): TOKEN_CHUNK_SIZE positions x _CHUNKED_LOGPROB_CHUNK_SIZE
# vocabulary entries a tile, in TRL 1.16. Read from the installed source when it is there.
TOKEN_TILE = 4096
VOCAB_TILE = 32768


@dataclass(frozen=True)
class Stack:
    """The libraries a run would train with, and the code path each takes where memory depends on it."""

    versions: dict[str, str] = field(default_factory=dict)  # installed, or assumed (see `assumed`)
    assumed: tuple[str, ...] = ()  # packages not installed here, whose tested version is assumed
    fused_head: bool = True  # TRL scores the LM head in tiles (SFT, DPO, KTO) instead of building the logits
    token_tile: int = TOKEN_TILE
    vocab_tile: int = VOCAB_TILE

    @property
    def default_loss(self) -> str:
        return "fused" if self.fused_head else "full"

    def describe(self, loss: str, kernel: str = "triton") -> str:
        """One line for the plan's output: the versions and how the loss is computed."""
        trl = self.versions.get("trl", "?")
        tf = self.versions.get("transformers", "?")
        how = {
            "fused": f"TRL's fused LM head ({self.token_tile} x {self.vocab_tile} tiles, "
            + ("only positions with a label, Triton)" if kernel == "triton" else "every position, torch fallback)"),
            "full": "full logits (batch x sequence x vocabulary, upcast to fp32 for the loss)",
        }[loss]
        assumed = f"; {', '.join(self.assumed)} not installed: assumed the tested versions" if self.assumed else ""
        return f"stack: TRL {trl}, transformers {tf}; loss through {how}{assumed}"

    def to_dict(self, loss: str, kernel: str = "triton") -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "assumed": list(self.assumed),
            "loss": loss,
            "loss_kernel": kernel if loss == "fused" else None,
            "tile": [self.token_tile, self.vocab_tile] if loss == "fused" else None,
        }


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _constant(path: Path, name: str) -> int | None:
    try:
        match = re.search(rf"^{name}\s*=\s*(\d+)", path.read_text(encoding="utf-8"), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


@functools.cache
def installed_stack() -> Stack:
    """The stack of this Python environment (cached: it does not change while ftwiz runs)."""
    versions = {name: v for name in PACKAGES if (v := _version(name)) is not None}
    assumed = tuple(name for name in TESTED if name not in versions)
    for name in assumed:
        versions[name] = TESTED[name]
    trl = _package_dir("trl") if "trl" not in assumed else None
    if trl is None:  # not installed: the tested TRL, which has the fused head
        return Stack(versions, assumed)
    try:
        utils = (trl / "trainer" / "utils.py").read_text(encoding="utf-8")
    except OSError:
        utils = ""
    fused = "def add_fused_lm_head" in utils
    vocab_match = re.search(r"^_CHUNKED_LOGPROB_CHUNK_SIZE\s*=\s*(\d+)", utils, re.MULTILINE)
    token_tile = _constant(trl / "kernels" / "chunked_logprob.py", "TOKEN_CHUNK_SIZE") or TOKEN_TILE
    vocab_tile = int(vocab_match.group(1)) if vocab_match else VOCAB_TILE
    return Stack(versions, assumed, fused, token_tile, vocab_tile)
