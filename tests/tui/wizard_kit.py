"""What the wizard's tests share: a fixed machine, fixed doctor checks, the tiny demo as the model and data.

A helper module, not a conftest (see runfolders.py). Inspections are cached in a per-session folder so only the
first test pays for the subprocess that builds the tiny model on the meta device.
"""

from __future__ import annotations

from ftwiz.config.presets import load_config
from ftwiz.hardware.probe import GpuInfo, Hardware
from ftwiz.hardware.readiness import Check
from ftwiz.plan.draft import Draft
from ftwiz.tui.wizard import WizardApp, make_wizard

GIB = 1024**3
MODEL = "ftwiz:tiny-demo/model"
DATA = "ftwiz:tiny-demo/data/train.jsonl"

NO_GPU = Hardware(
    gpus=(),
    driver_version=None,
    cuda_version=None,
    host_ram_bytes=32 * GIB,
    cpu_count=8,
    disk_free_bytes=200 * GIB,
    disk_path=".",
    no_gpu_reason="no NVIDIA GPU: NVML unavailable",
)
ONE_GPU = Hardware(
    gpus=(GpuInfo(0, "NVIDIA L4", 23 * GIB, 22 * GIB, 1 * GIB, (8, 9), 0),),
    driver_version="550.54.15",
    cuda_version="12.4",
    host_ram_bytes=64 * GIB,
    cpu_count=16,
    disk_free_bytes=500 * GIB,
    disk_path=".",
)
CHECKS = [
    Check("torch", "ok", "2.13.0 (CPU build)"),
    Check("bitsandbytes", "warn", "0.50.2: 4-bit on the CPU is slow", "pip install -U bitsandbytes"),
]


def wizard(draft: Draft | None = None, *, hardware: Hardware = NO_GPU, start: int = 0, **kwargs) -> WizardApp:
    """The wizard as `ftwiz` makes it (make_wizard), on a fixed machine with fixed doctor checks, no monitor."""
    return make_wizard(draft, hardware=hardware, doctor=lambda: CHECKS, start=start, monitor=False, **kwargs)


def demo_draft() -> Draft:
    return Draft.from_config(load_config("tiny-demo").config, "tiny-demo")
