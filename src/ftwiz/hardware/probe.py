"""Probe the machine: every NVIDIA GPU through NVML (pynvml, from nvidia-ml-py), host RAM, CPUs, free disk.

A platform strategy behind one interface (toolong's watcher.py habit): `NvmlProbe` for real machines and
`FakeProbe`, GPUs given by hand, for tests. No driver, no library or no GPU is a clean "no NVIDIA GPU"
result with the reason, never an exception. Light: pynvml is ctypes over libnvidia-ml, no torch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    used_bytes: int | None  # None where NVML may not say (e.g. inside containers)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    used_bytes: int
    compute_capability: tuple[int, int]
    utilization: int | None = None  # percent
    processes: tuple[GpuProcess, ...] = ()

    @property
    def bf16(self) -> bool:
        """bf16 tensor cores: Ampere (8.0) and newer."""
        return self.compute_capability >= (8, 0)

    @property
    def flash_attention_2(self) -> bool:
        """FlashAttention-2 needs Ampere, Ada or Hopper (8.0+)."""
        return self.compute_capability >= (8, 0)


@dataclass(frozen=True)
class Hardware:
    gpus: tuple[GpuInfo, ...]
    driver_version: str | None
    cuda_version: str | None
    host_ram_bytes: int | None
    cpu_count: int | None
    disk_free_bytes: int | None
    disk_path: str
    no_gpu_reason: str | None = None
    """Why no GPU is listed (no driver, no NVML library, no device), for the user to read."""

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for gpu, info in zip(data["gpus"], self.gpus, strict=True):
            gpu.update(bf16=info.bf16, flash_attention_2=info.flash_attention_2)
        return data


class Probe(ABC):
    @abstractmethod
    def gpus(self) -> tuple[tuple[GpuInfo, ...], str | None, str | None, str | None]:
        """(gpus, driver version, CUDA version, reason when there are none)."""

    def probe(self, runs_dir: str | Path = ".") -> Hardware:
        gpus, driver, cuda, reason = self.gpus()
        disk_path, disk_free = _disk_free(Path(runs_dir))
        return Hardware(gpus, driver, cuda, _host_ram(), os.cpu_count(), disk_free, str(disk_path), reason)


class NvmlProbe(Probe):
    def gpus(self) -> tuple[tuple[GpuInfo, ...], str | None, str | None, str | None]:
        try:
            import pynvml
        except ImportError:
            return (), None, None, "nvidia-ml-py is not installed"
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            return (), None, None, f"no NVIDIA GPU: NVML unavailable ({_text(exc)})"
        try:
            driver = _text(pynvml.nvmlSystemGetDriverVersion())
            cuda_int = pynvml.nvmlSystemGetCudaDriverVersion()
            cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
            count = pynvml.nvmlDeviceGetCount()
            gpus = tuple(_device(pynvml, i) for i in range(count))
        except pynvml.NVMLError as exc:
            return (), None, None, f"no NVIDIA GPU: NVML error ({_text(exc)})"
        finally:
            with contextlib.suppress(Exception):  # shutting NVML down must never hide the probe's result
                pynvml.nvmlShutdown()
        return gpus, driver, cuda, None if gpus else "no NVIDIA GPU: the driver reports no device"


def _device(pynvml: Any, index: int) -> GpuInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    try:
        utilization = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        utilization = None
    try:
        running = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except pynvml.NVMLError:
        running = []
    processes = tuple(
        GpuProcess(p.pid, _process_name(pynvml, p.pid), p.usedGpuMemory if p.usedGpuMemory is not None else None)
        for p in running
    )
    return GpuInfo(
        index,
        _text(pynvml.nvmlDeviceGetName(handle)),
        int(memory.total),
        int(memory.free),
        int(memory.used),
        (int(major), int(minor)),
        utilization,
        processes,
    )


def _process_name(pynvml: Any, pid: int) -> str:
    try:
        return Path(_text(pynvml.nvmlSystemGetProcessName(pid))).name
    except pynvml.NVMLError:
        return "?"


class FakeProbe(Probe):
    """GPUs given by hand instead of asked from NVML, for tests: the given GpuInfos with the given driver and CUDA
    versions, or, with none, no driver, no CUDA and `reason` ("none in this fake machine" unless given). Host RAM,
    CPU count and free disk are still this machine's (`Probe.probe`). Planning for a GPU you don't have goes
    through the catalog (`--gpu`, `ftwiz.hardware.gpus`), not through this."""

    def __init__(
        self,
        gpus: tuple[GpuInfo, ...] = (),
        driver: str | None = "550.54.15",
        cuda: str | None = "12.4",
        reason: str | None = None,
    ) -> None:
        self._gpus, self._driver, self._cuda = tuple(gpus), driver, cuda
        self._reason = reason or (None if gpus else "no NVIDIA GPU: none in this fake machine")

    def gpus(self) -> tuple[tuple[GpuInfo, ...], str | None, str | None, str | None]:
        if not self._gpus:
            return (), None, None, self._reason
        return self._gpus, self._driver, self._cuda, None


def probe_hardware(runs_dir: str | Path = ".", probe: Probe | None = None) -> Hardware:
    return (probe or NvmlProbe()).probe(runs_dir)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _host_ram() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def _disk_free(path: Path) -> tuple[Path, int | None]:
    """Free space where runs will be written (the nearest existing parent of the runs folder)."""
    path = path.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return path, shutil.disk_usage(path).free
    except OSError:
        return path, None
