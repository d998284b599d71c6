"""Per-GPU memory and utilisation, sampled by the worker through NVML into `system` metrics lines.

The worker samples, not the monitor, so `ftwiz attach` shows the history of a run it was not watching.
NVML reports the whole device (every process on it), the torch allocator only this process: both are kept.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ftwiz.train")
SYSTEM_EVERY_SECONDS = 10.0


def visible_gpu_indices() -> list[int] | None:
    """Physical indices of the GPUs this process uses (CUDA_VISIBLE_DEVICES), None for all."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:  # UUIDs: NVML could map them; rare enough to sample every GPU instead
        return None


class GpuSampler:
    """Reads NVML; `sample()` gives one entry a GPU. Unusable (no driver, no GPU) means `available` is False."""

    def __init__(self, indices: list[int] | None = None) -> None:
        self.available = False
        self.peak_used: dict[int, int] = {}
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            wanted = indices if indices is not None else list(range(count))
            self._nvml = pynvml
            self._handles = {i: pynvml.nvmlDeviceGetHandleByIndex(i) for i in wanted if i < count}
            self.available = bool(self._handles)
        except Exception:  # no library, no driver: a CPU run
            self._handles = {}

    def sample(self) -> list[dict[str, Any]]:
        out = []
        for index, handle in self._handles.items():
            try:
                mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                util = self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            except Exception as exc:  # a GPU that fell off the bus should not end the run
                log.warning("NVML sample of GPU %d failed: %s", index, exc)
                continue
            used, total = int(mem.used), int(mem.total)
            self.peak_used[index] = max(self.peak_used.get(index, 0), used)
            out.append({"index": index, "mem_used_bytes": used, "mem_total_bytes": total, "util": util})
        return out


class SystemRecorder:
    """A daemon thread writing a `system` line every few seconds while training."""

    def __init__(self, sampler: GpuSampler, write: Callable[[list[dict[str, Any]]], None], every: float) -> None:
        self._sampler, self._write, self._every = sampler, write, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ftwiz-system", daemon=True)

    def start(self) -> None:
        if self._sampler.available:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._write(self._sampler.sample())

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
