"""The worker's NVML sampler and `system` lines, with a fake NVML (no GPU here)."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from ftwiz.hardware.sampler import GpuSampler, SystemRecorder, visible_gpu_indices


class FakeNvml:
    def __init__(self, used: list[int]) -> None:
        self.used = used

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.used)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetMemoryInfo(self, handle: int):
        return SimpleNamespace(used=self.used[handle], total=80 * 2**30)

    def nvmlDeviceGetUtilizationRates(self, handle: int):
        return SimpleNamespace(gpu=97)


def test_samples_the_visible_gpus_and_keeps_the_peak(monkeypatch):
    fake = FakeNvml([10 * 2**30, 20 * 2**30, 30 * 2**30])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    sampler = GpuSampler(visible_gpu_indices())
    first = sampler.sample()
    assert [g["index"] for g in first] == [2, 0] and first[0] == {
        "index": 2,
        "mem_used_bytes": 30 * 2**30,
        "mem_total_bytes": 80 * 2**30,
        "util": 97,
    }
    fake.used[2] = 5 * 2**30
    sampler.sample()
    assert sampler.peak_used[2] == 30 * 2**30  # the peak, not the last reading


def test_without_nvml_nothing_is_sampled_and_no_thread_starts(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    sampler = GpuSampler()
    written: list = []
    recorder = SystemRecorder(sampler, written.append, every=0.01)
    recorder.start()
    time.sleep(0.05)
    recorder.close()
    assert not sampler.available and written == []


def test_the_recorder_writes_lines_until_closed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([2**30]))
    written: list = []
    recorder = SystemRecorder(GpuSampler(), written.append, every=0.01)
    recorder.start()
    time.sleep(0.1)
    recorder.close()
    count = len(written)
    time.sleep(0.05)
    assert count >= 2 and len(written) == count and written[0][0]["index"] == 0
