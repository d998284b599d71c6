"""What this machine has for training, gathered once as plain data (`ftwiz doctor` judges it).

`gather_facts` looks at the machine: versions, torch and CUDA, the driver (NVML), RAM and free disk. It imports
torch, bitsandbytes and flash-attn inside the function, so importing this module stays light, and it never
raises for a broken package: a failed import is a fact the checks report.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ftwiz.hardware.probe import GpuInfo, Probe, probe_hardware

# Minimum versions ftwiz is written against (the `train` extra in pyproject.toml).
MIN_TORCH = "2.4"
MIN_VERSIONS = {"transformers": "5.0", "peft": "0.18", "trl": "1.0", "accelerate": "1.0", "datasets": "3.0"}
MIN_BITSANDBYTES_CPU = "0.45"  # 4-bit quantization on the CPU
PACKAGES = ("torch", *MIN_VERSIONS, "bitsandbytes", "flash-attn", "kernels", "liger-kernel")


@dataclass
class GpuFact:
    """A GPU as torch sees it (or as NVML does when torch cannot use it)."""

    index: int
    name: str
    compute_capability: tuple[int, int]
    total_bytes: int | None = None

    @property
    def bf16(self) -> bool:
        """Native bf16 tensor cores: Ampere (8.0) and newer. Older cards only emulate it, slowly."""
        return tuple(self.compute_capability) >= (8, 0)


@dataclass
class Facts:
    """Everything the checks look at, gathered once; plain data so `diagnose` is pure and JSON-able."""

    python_version: str
    platform: str = ""
    torch_version: str | None = None  # torch.__version__ once imported; None when not installed or broken
    torch_error: str | None = None  # installed but `import torch` failed
    torch_cuda: str | None = None  # torch.version.cuda: None on a CPU build
    cuda_available: bool = False
    gpus: list[GpuFact] = field(default_factory=list)
    gpu_source: Literal["torch", "nvml"] | None = None
    bf16_supported: bool | None = None  # torch, without emulation; None when CUDA is unavailable
    driver_version: str | None = None  # NVIDIA driver, through NVML
    driver_cuda: str | None = None  # the newest CUDA the driver supports, e.g. "12.4"
    no_gpu_reason: str | None = None  # NVML's reason when it lists no GPU
    cuda_visible_devices: str | None = None
    packages: dict[str, str | None] = field(default_factory=dict)  # distribution name -> version, None if missing
    bitsandbytes_importable: bool | None = None  # None when not installed
    bitsandbytes_error: str | None = None
    flash_attn_importable: bool | None = None  # None when not installed
    flash_attn_error: str | None = None
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    disk_path: str = "."
    disk_free_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gather_facts(runs_dir: str | Path = ".", *, probe: Probe | None = None) -> Facts:
    """Look at this machine: versions, torch and CUDA, the driver (NVML), RAM, and free disk at `runs_dir`.

    Imports torch, bitsandbytes and flash-attn here, not at module import, so `ftwiz --help` stays fast. Never
    raises for a broken package: a failed import is a fact the checks report.
    """
    hardware = probe_hardware(runs_dir, probe)
    packages = {name: _dist_version(name) for name in PACKAGES}
    facts = Facts(
        python_version=platform.python_version(),
        platform=platform.platform(),
        driver_version=hardware.driver_version,
        driver_cuda=hardware.cuda_version,
        no_gpu_reason=hardware.no_gpu_reason,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        packages=packages,
        disk_path=hardware.disk_path,
        disk_free_bytes=hardware.disk_free_bytes,
    )
    facts.ram_total_bytes, facts.ram_available_bytes = _ram(hardware.host_ram_bytes)
    # Some packages print banners on import: keep stdout clean for --json.
    with contextlib.redirect_stdout(sys.stderr):
        if packages["torch"] is not None:
            _torch_facts(facts)
        if packages["bitsandbytes"] is not None:
            facts.bitsandbytes_importable, facts.bitsandbytes_error = _try_import("bitsandbytes")
        if packages["flash-attn"] is not None:
            facts.flash_attn_importable, facts.flash_attn_error = _try_import("flash_attn")
    if not facts.cuda_available and hardware.gpus:
        facts.gpus, facts.gpu_source = [_from_nvml(g) for g in hardware.gpus], "nvml"
    return facts


def _torch_facts(facts: Facts) -> None:
    try:
        import torch
    except Exception as exc:  # a broken wheel raises OSError/ImportError/RuntimeError alike
        facts.torch_error = _error(exc)
        return
    facts.torch_version = str(torch.__version__)
    facts.torch_cuda = torch.version.cuda
    try:
        facts.cuda_available = bool(torch.cuda.is_available())
        if not facts.cuda_available:
            return
        gpus = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append(GpuFact(i, str(props.name), (int(props.major), int(props.minor)), int(props.total_memory)))
        facts.gpus, facts.gpu_source = gpus, "torch"
        try:  # the default also counts slow emulation (True on a T4): ask for the real thing
            facts.bf16_supported = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # torch < 2.3 has no such argument and no emulation either
            facts.bf16_supported = bool(torch.cuda.is_bf16_supported())
    except Exception as exc:  # CUDA initialisation errors surface here, not at import
        facts.torch_error = f"CUDA initialisation failed: {_error(exc)}"
        facts.cuda_available = False


def _from_nvml(gpu: GpuInfo) -> GpuFact:
    return GpuFact(gpu.index, gpu.name, gpu.compute_capability, gpu.total_bytes)


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _try_import(module: str) -> tuple[bool, str | None]:
    try:
        importlib.import_module(module)
    except Exception as exc:
        return False, _error(exc)
    return True, None


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _ram(fallback_total: int | None) -> tuple[int | None, int | None]:
    """(total, available) host RAM: /proc/meminfo's MemAvailable counts reclaimable cache, unlike free pages."""
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                fields[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
        if "MemTotal" in fields:
            return fields["MemTotal"], fields.get("MemAvailable", fields.get("MemFree"))
    except OSError:
        pass
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        available = None
    return fallback_total, available
