"""The GPUs people rent, for planning without the card in hand, and the `--gpu` syntax of CONTRACTS.md.

Memory is the capacity the driver reports (nvidia-smi's "MiB total"), not the marketing number: an A10G
"24 GB" card is 23,028 MiB = 22.5 GiB. TFLOP/s are dense (no 2:4 sparsity) bf16 tensor-core peaks with fp32
accumulation, the mode PyTorch trains in (GeForce cards run it at half their fp16-accumulate rate; cards
without bf16 list fp16). `link_gbs` is the bus bandwidth NCCL's collectives reach between the GPUs of one
machine, approximate (nccl-tests scale): NVLink on SXM boards, PCIe elsewhere (GeForce cards have no
peer-to-peer and go through host memory). Prices are typical on-demand hourly ranges on GPU clouds, approximate, as of
PRICES_AS_OF: check your provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ftwiz.errors import BadInput

MIB = 1024**2
GIB = 1024**3
PRICES_AS_OF = "2026-11"


@dataclass(frozen=True)
class GpuType:
    name: str
    memory_bytes: int
    tflops: float  # dense bf16 (fp16 where the card has no bf16), fp32 accumulate
    price_per_hour: tuple[float, float] | None  # USD, approximate range
    bf16: bool = True
    notes: str = ""
    link_gbs: float = 20.0  # GPU-to-GPU bus bandwidth of NCCL collectives in one machine, GB/s (PCIe Gen4: ~20)
    bandwidth_gbs: float = 0.0  # memory bandwidth, GB/s (the vendor's datasheet); 0: unknown

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB

    @property
    def price_mid(self) -> float | None:
        return None if self.price_per_hour is None else sum(self.price_per_hour) / 2


CATALOG: dict[str, GpuType] = {
    g.name.lower(): g
    for g in (
        GpuType(
            "T4",
            15360 * MIB,
            65.0,
            (0.20, 0.60),
            False,
            "Turing: fp16 only, no FlashAttention-2",
            10,
            bandwidth_gbs=320.0,
        ),
        GpuType("L4", 23034 * MIB, 121.0, (0.40, 0.90), bandwidth_gbs=300.0),
        GpuType(
            "A10G", 23028 * MIB, 70.0, (0.75, 1.30), notes="AWS g5; lower clocks than the A10", bandwidth_gbs=600.0
        ),
        GpuType("RTX-3090", 24576 * MIB, 71.0, (0.20, 0.50), link_gbs=12.0, bandwidth_gbs=936.0),
        GpuType("RTX-4090", 24564 * MIB, 165.2, (0.30, 0.80), link_gbs=12.0, bandwidth_gbs=1008.0),
        GpuType("RTX-5090", 32607 * MIB, 209.5, (0.60, 1.20), bandwidth_gbs=1792.0),
        GpuType("RTX-A6000", 49140 * MIB, 154.8, (0.45, 0.90), bandwidth_gbs=768.0),
        GpuType("L40S", 46068 * MIB, 362.0, (0.80, 1.60), bandwidth_gbs=864.0),
        GpuType("A100-40GB", 40960 * MIB, 312.0, (1.00, 1.80), link_gbs=200.0, bandwidth_gbs=1555.0),
        GpuType("A100-80GB", 81920 * MIB, 312.0, (1.20, 2.50), link_gbs=200.0, bandwidth_gbs=2039.0),
        GpuType(
            "H100-80GB",
            81559 * MIB,
            989.0,
            (2.00, 4.00),
            True,
            "SXM; PCIe: 756 TFLOP/s, 2000 GB/s",
            360,
            bandwidth_gbs=3350.0,
        ),
        GpuType("H200", 143771 * MIB, 989.0, (3.00, 5.00), link_gbs=360.0, bandwidth_gbs=4800.0),
        GpuType("B200", 183359 * MIB, 2250.0, (4.50, 7.00), link_gbs=700.0, bandwidth_gbs=8000.0),
    )
}

_CAPACITY = re.compile(r"^(\d+(?:\.\d+)?)\s*(GIB|GB|G)$")
_COUNT = re.compile(r"^(\d+)\s*[xX×]\s*(.+)$")


@dataclass(frozen=True)
class GpuChoice:
    """A `--gpu` argument: a catalog card or a bare capacity, times a count."""

    gpu: GpuType
    count: int = 1

    @property
    def label(self) -> str:
        return self.gpu.name if self.count == 1 else f"{self.count}x{self.gpu.name}"


def parse_gpu(text: str) -> GpuChoice:
    """`T4`, `a100-80gb`, `4xA100-80GB`, `4 x H100-80GB`, `22.5GiB`, `24GB`, `2x24GB`."""
    raw = text.strip()
    count = 1
    if match := _COUNT.match(raw):
        count, raw = int(match.group(1)), match.group(2).strip()
        if count < 1:
            raise BadInput(f"--gpu {text}: the count must be at least 1")
    key = raw.lower()
    if key in CATALOG:
        return GpuChoice(CATALOG[key], count)
    if match := _CAPACITY.match(raw.upper()):
        value, unit = float(match.group(1)), match.group(2)
        # A bare "24GB" is how people name a card: decimal gigabytes. GiB is exact.
        size = int(value * (GIB if unit == "GIB" else 10**9))
        return GpuChoice(GpuType(f"{value:g}{'GiB' if unit == 'GIB' else 'GB'}", size, 0.0, None), count)
    import difflib

    close = difflib.get_close_matches(key, list(CATALOG), n=1, cutoff=0.5)
    hint = f"Did you mean {CATALOG[close[0]].name}? " if close else ""
    raise BadInput(
        f"--gpu {text}: unknown GPU",
        hint=f"{hint}Known: {', '.join(g.name for g in CATALOG.values())}; or a capacity such as 22.5GiB or 24GB, "
        "optionally with a count: 4xA100-80GB.",
    )


def match_catalog(name: str) -> GpuType | None:
    """The catalog card a probed device name is (e.g. 'NVIDIA A100-SXM4-80GB' -> A100-80GB)."""
    upper = name.upper().replace(" ", "-")
    if "A100" in upper:
        return CATALOG["a100-80gb" if "80" in upper else "a100-40gb"]
    if "H100" in upper:
        return CATALOG["h100-80gb"]
    for key, gpu in CATALOG.items():
        bare = key.upper().replace("RTX-", "")
        if re.search(rf"(^|[^A-Z0-9]){re.escape(bare)}([^A-Z0-9]|$)", upper):
            return gpu
    return None


def local_card(name: str, total_bytes: int, bf16: bool) -> GpuType:
    """A probed device as a card to plan for: its real capacity, the catalog's speed and price when it is known
    (an unknown card gets a conservative 100 TFLOP/s)."""
    known = match_catalog(name)
    return GpuType(
        name,
        total_bytes,
        known.tflops if known else 100.0,
        known.price_per_hour if known else None,
        bf16,
        link_gbs=known.link_gbs if known else GpuType.link_gbs,
        bandwidth_gbs=known.bandwidth_gbs if known else 0.0,
    )
