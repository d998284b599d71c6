"""The NVML probe (through a fake pynvml: 0, 1 and 8 GPUs, no driver, no library) and the GPU catalog."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from ftwiz.errors import BadInput
from ftwiz.hardware.gpus import CATALOG, GIB, match_catalog, parse_gpu
from ftwiz.hardware.probe import FakeProbe, GpuInfo, NvmlProbe, probe_hardware

A100 = ("NVIDIA A100-SXM4-80GB", 81920 * 2**20, (8, 0))
T4 = (b"Tesla T4", 15360 * 2**20, (7, 5))  # older pynvml returns bytes


class NVMLError(Exception):
    def __str__(self) -> str:
        return self.args[0] if self.args else "NVML error"


def fake_pynvml(devices: list[tuple], *, init_error: str | None = None, processes: dict | None = None):
    """A stand-in for pynvml with the calls the probe makes."""
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError
    state = {"shutdown": False}

    def init():
        if init_error:
            raise NVMLError(init_error)

    module.nvmlInit = init
    module.nvmlShutdown = lambda: state.update(shutdown=True)
    module.nvmlSystemGetDriverVersion = lambda: "550.54.15"
    module.nvmlSystemGetCudaDriverVersion = lambda: 12040
    module.nvmlDeviceGetCount = lambda: len(devices)
    module.nvmlDeviceGetHandleByIndex = lambda i: i
    module.nvmlDeviceGetName = lambda h: devices[h][0]
    module.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(
        total=devices[h][1], used=2 * GIB if h == 0 else 0, free=devices[h][1] - (2 * GIB if h == 0 else 0)
    )
    module.nvmlDeviceGetCudaComputeCapability = lambda h: devices[h][2]
    module.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=37 if h == 0 else 0, memory=5)
    module.nvmlDeviceGetComputeRunningProcesses = lambda h: (processes or {}).get(h, [])
    module.nvmlSystemGetProcessName = lambda pid: b"/usr/bin/python3"
    module.state = state
    return module


def probe_with(monkeypatch, module, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", module)
    return probe_hardware(tmp_path, NvmlProbe())


def test_no_gpu(monkeypatch, tmp_path):
    hw = probe_with(monkeypatch, fake_pynvml([]), tmp_path)
    assert not hw.has_gpu and hw.gpus == ()
    assert hw.no_gpu_reason == "no NVIDIA GPU: the driver reports no device"
    assert hw.cpu_count and hw.host_ram_bytes and hw.disk_free_bytes


def test_no_driver_is_a_clean_result_not_a_crash(monkeypatch, tmp_path):
    hw = probe_with(monkeypatch, fake_pynvml([], init_error="Driver Not Loaded"), tmp_path)
    assert not hw.has_gpu
    assert hw.no_gpu_reason == "no NVIDIA GPU: NVML unavailable (Driver Not Loaded)"


def test_no_library(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    hw = probe_hardware(tmp_path, NvmlProbe())
    assert not hw.has_gpu and "nvidia-ml-py" in hw.no_gpu_reason


def test_one_gpu_with_a_process_holding_memory(monkeypatch, tmp_path):
    procs = {0: [SimpleNamespace(pid=4242, usedGpuMemory=2 * GIB)]}
    module = fake_pynvml([A100], processes=procs)
    hw = probe_with(monkeypatch, module, tmp_path)
    (gpu,) = hw.gpus
    assert (gpu.index, gpu.name, gpu.total_bytes) == (0, "NVIDIA A100-SXM4-80GB", 80 * GIB)
    assert gpu.free_bytes == 78 * GIB and gpu.used_bytes == 2 * GIB
    assert gpu.bf16 and gpu.flash_attention_2 and gpu.utilization == 37
    assert gpu.processes[0].pid == 4242 and gpu.processes[0].name == "python3"
    assert hw.driver_version == "550.54.15" and hw.cuda_version == "12.4"
    assert module.state["shutdown"], "NVML is shut down after probing"
    data = hw.to_dict()
    assert data["gpus"][0]["bf16"] is True and data["gpus"][0]["compute_capability"] == (8, 0)


def test_eight_gpus_and_an_older_card(monkeypatch, tmp_path):
    hw = probe_with(monkeypatch, fake_pynvml([A100] * 7 + [T4]), tmp_path)
    assert [g.index for g in hw.gpus] == list(range(8))
    t4 = hw.gpus[7]
    assert t4.name == "Tesla T4" and not t4.bf16 and not t4.flash_attention_2


def test_fake_probe_for_planning_without_the_card():
    gpu = GpuInfo(0, "NVIDIA L4", 23034 * 2**20, 23034 * 2**20, 0, (8, 9))
    assert probe_hardware(".", FakeProbe((gpu,))).gpus == (gpu,)
    assert not probe_hardware(".", FakeProbe()).has_gpu


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [
        ("T4", "T4", 1),
        ("a100-80gb", "A100-80GB", 1),
        ("4xA100-80GB", "A100-80GB", 4),
        ("8 x H100-80GB", "H100-80GB", 8),
        ("rtx-4090", "RTX-4090", 1),
        ("B200", "B200", 1),
    ],
)
def test_parse_catalog_names(text, name, count):
    choice = parse_gpu(text)
    assert (choice.gpu.name, choice.count) == (name, count)


def test_parse_capacities():
    assert parse_gpu("22.5GiB").gpu.memory_bytes == int(22.5 * GIB)
    assert parse_gpu("24GB").gpu.memory_bytes == 24 * 10**9
    two = parse_gpu("2x24GB")
    assert two.count == 2 and two.label == "2x24GB"


def test_unknown_gpu_suggests():
    with pytest.raises(BadInput, match="unknown GPU") as info:
        parse_gpu("A100-80")
    assert "A100-80GB" in str(info.value)


def test_catalog_capacities_are_what_the_driver_reports():
    assert CATALOG["a10g"].memory_gib == pytest.approx(22.5, abs=0.05)  # the "24 GB" A10G
    assert CATALOG["t4"].memory_gib == pytest.approx(15.0)
    assert CATALOG["h100-80gb"].memory_gib == pytest.approx(79.6, abs=0.1)
    assert all(g.tflops > 0 and g.price_per_hour for g in CATALOG.values())
    assert not CATALOG["t4"].bf16


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100-PCIE-40GB", "A100-40GB"),
        ("NVIDIA A10G", "A10G"),
        ("Tesla T4", "T4"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("NVIDIA RTX A6000", "RTX-A6000"),
        ("NVIDIA H100 80GB HBM3", "H100-80GB"),
        ("NVIDIA H200", "H200"),
    ],
)
def test_probed_names_match_the_catalog(device, expected):
    assert match_catalog(device).name == expected
