"""`ftwiz doctor`: the pure checks on hand-built machines (no GPU needed), and one real run on this machine."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from rich.console import Console

from ftwiz.cli import main
from ftwiz.hardware.facts import Facts, GpuFact, gather_facts
from ftwiz.hardware.readiness import Check, diagnose, summary, wheel_index
from ftwiz.views import print_checks

GIB = 2**30
GOOD_PACKAGES = {
    "torch": "2.6.0",
    "transformers": "5.1.0",
    "peft": "0.18.0",
    "trl": "1.0.0",
    "accelerate": "1.2.0",
    "datasets": "3.2.0",
    "bitsandbytes": "0.45.5",
    "flash-attn": None,
}
T4 = GpuFact(0, "Tesla T4", (7, 5), 15 * GIB)
A100 = GpuFact(0, "NVIDIA A100-SXM4-80GB", (8, 0), 80 * GIB)


def cpu_box(**changes) -> Facts:
    """A healthy laptop: CPU torch, every library, no driver."""
    base = Facts(
        python_version="3.11.7",
        torch_version="2.6.0+cpu",
        packages=dict(GOOD_PACKAGES),
        bitsandbytes_importable=True,
        ram_total_bytes=32 * GIB,
        ram_available_bytes=20 * GIB,
        disk_path="/data",
        disk_free_bytes=100 * GIB,
    )
    return replace(base, **changes)


def gpu_box(gpu: GpuFact = A100, **changes) -> Facts:
    """A healthy rented GPU box: a cu124 torch on a driver for CUDA 12.4."""
    fields = {
        "torch_version": "2.6.0+cu124",
        "torch_cuda": "12.4",
        "cuda_available": True,
        "gpus": [gpu],
        "gpu_source": "torch",
        "bf16_supported": gpu.bf16,
        "driver_version": "550.54.15",
        "driver_cuda": "12.4",
    }
    return cpu_box(**{**fields, **changes})


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_cpu_only_box_is_healthy_with_a_note():
    checks = by_name(diagnose(cpu_box()))
    assert checks["gpu"].status == "info" and "CPU only" in checks["gpu"].detail
    assert "ftwiz plan" in checks["gpu"].detail and "--gpu" in checks["gpu"].detail
    assert "cuda" not in checks and "bf16" not in checks  # nothing to say about CUDA without a driver
    assert checks["torch"].status == "ok" and "CPU build" in checks["torch"].detail
    assert checks["bitsandbytes"].status == "ok" and "CPU" in checks["bitsandbytes"].detail
    assert checks["flash-attn"].status == "info"
    assert not [c for c in checks.values() if c.status == "fail"]


@pytest.mark.parametrize(
    ("driver_cuda", "tag"),
    [("12.4", "cu124"), ("12.8", "cu128"), ("11.8", "cu118"), ("12.2", "cu121"), ("13.0", "cu128"), ("12.6", "cu126")],
)
def test_cpu_torch_with_a_driver_names_the_matching_wheel_index(driver_cuda, tag):
    facts = cpu_box(driver_version="550.54.15", driver_cuda=driver_cuda, gpus=[A100], gpu_source="nvml")
    cuda = by_name(diagnose(facts))["cuda"]
    assert cuda.status == "fail" and "CPU build" in cuda.detail
    assert cuda.fix == f"pip uninstall -y torch && pip install torch --index-url https://download.pytorch.org/whl/{tag}"


def test_wheel_index_for_a_driver_older_than_every_wheel():
    assert wheel_index("11.4") is None and wheel_index(None) is None
    facts = cpu_box(driver_version="470.1", driver_cuda="11.4", gpus=[T4], gpu_source="nvml")
    assert "upgrade the NVIDIA driver" in by_name(diagnose(facts))["cuda"].fix


def test_missing_torch_install_command_follows_the_driver():
    with_driver = by_name(diagnose(cpu_box(torch_version=None, driver_version="550.1", driver_cuda="12.4")))
    assert with_driver["torch"].status == "fail"
    assert with_driver["torch"].fix == "pip install torch --index-url https://download.pytorch.org/whl/cu124"
    no_driver = by_name(diagnose(cpu_box(torch_version=None)))
    assert no_driver["torch"].fix == "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    assert "cuda" not in no_driver


def test_torch_built_for_newer_cuda_than_the_driver_is_a_driver_too_old_failure():
    facts = gpu_box(torch_version="2.8.0+cu128", torch_cuda="12.8", driver_cuda="12.2", cuda_available=False)
    facts = replace(facts, gpus=[A100], gpu_source="nvml")
    cuda = by_name(diagnose(facts))["cuda"]
    assert cuda.status == "fail" and "too old" in cuda.detail
    assert "upgrade the NVIDIA driver" in cuda.fix and "whl/cu121" in cuda.fix


def test_newer_cuda_build_that_still_runs_is_only_a_warning():
    facts = gpu_box(torch_version="2.8.0+cu128", torch_cuda="12.8", driver_cuda="12.6")
    assert by_name(diagnose(facts))["cuda"].status == "warn"


def test_cuda_build_that_cannot_see_the_gpu():
    facts = gpu_box(cuda_available=False, gpu_source="nvml", cuda_visible_devices="")
    cuda = by_name(diagnose(facts))["cuda"]
    assert cuda.status == "fail" and "CUDA_VISIBLE_DEVICES=''" in cuda.detail and "--gpus all" in cuda.fix


def test_t4_warns_about_bf16_and_cannot_use_flash_attention():
    checks = by_name(diagnose(gpu_box(T4)))
    assert checks["bf16"].status == "warn" and "fp16" in checks["bf16"].detail
    assert checks["flash-attn"].status == "info" and "not supported" in checks["flash-attn"].detail
    installed = by_name(diagnose(gpu_box(T4, packages={**GOOD_PACKAGES, "flash-attn": "2.7.4"})))
    assert installed["flash-attn"].status == "warn" and "too old" in installed["flash-attn"].detail


def test_a100_without_flash_attn_suggests_installing_it():
    checks = by_name(diagnose(gpu_box(A100)))
    assert checks["bf16"].status == "ok"
    assert checks["flash-attn"].status == "info"
    assert "pip install flash-attn --no-build-isolation" in checks["flash-attn"].detail
    assert checks["cuda"].status == "ok" and checks["gpu"].status == "ok"
    assert not [c for c in checks.values() if c.status in ("fail", "warn")]
    ready = by_name(
        diagnose(gpu_box(A100, packages={**GOOD_PACKAGES, "flash-attn": "2.7.4"}, flash_attn_importable=True))
    )
    assert ready["flash-attn"].status == "ok"
    assert "pip install kernels" in checks["flash-attn"].detail  # the prebuilt way, named beside the compiled one


def test_with_the_kernels_package_flash_attention_needs_no_build():
    """transformers falls back to the Hub's prebuilt FlashAttention when flash-attn is missing and kernels is not."""
    checks = by_name(diagnose(gpu_box(A100, packages={**GOOD_PACKAGES, "kernels": "0.19.1"})))
    assert checks["flash-attn"].status == "ok" and "kernels-community/flash-attn2" in checks["flash-attn"].detail


def test_missing_bitsandbytes_is_a_warning_with_the_install_command():
    facts = gpu_box(packages={**GOOD_PACKAGES, "bitsandbytes": None}, bitsandbytes_importable=None)
    check = by_name(diagnose(facts))["bitsandbytes"]
    assert check.status == "warn" and check.fix == "pip install bitsandbytes" and "QLoRA" in check.detail


def test_too_old_or_missing_libraries_fail_with_the_pip_command():
    checks = by_name(diagnose(cpu_box(packages={**GOOD_PACKAGES, "trl": "0.19.1", "peft": None})))
    assert checks["trl"].status == "fail" and checks["trl"].fix == 'pip install -U "trl>=1.0"'
    assert checks["peft"].status == "fail" and checks["peft"].fix == 'pip install -U "peft>=0.18"'
    assert checks["transformers"].status == "ok"
    assert (
        by_name(diagnose(cpu_box(packages={**GOOD_PACKAGES, "transformers": "5.0.0rc1"})))["transformers"].status
        == "ok"
    )


def test_disk_and_ram_needs():
    checks = by_name(diagnose(cpu_box(), need_disk_bytes=200 * GIB, need_ram_bytes=30 * GIB))
    assert (
        checks["disk"].status == "fail" and "output.runs_dir" in checks["disk"].fix and "/data" in checks["disk"].detail
    )
    assert checks["ram"].status == "fail" and checks["ram"].fix
    enough = by_name(diagnose(cpu_box(), need_disk_bytes=10 * GIB, need_ram_bytes=4 * GIB))
    assert enough["disk"].status == "ok" and enough["ram"].status == "ok"
    assert by_name(diagnose(cpu_box()))["disk"].status == "info"


def test_render_marks_fixes_and_summary():
    checks = [
        Check("torch", "ok", "2.6.0"),
        Check("bitsandbytes", "warn", "not installed", "pip install bitsandbytes"),
        Check("trl", "fail", "0.9 is older than 1.0", 'pip install -U "trl>=1.0"'),
        Check("ram", "info", "8 GiB"),
    ]
    console = Console(record=True, width=200)
    print_checks(checks, console)
    text = console.export_text()
    assert "✓ torch" in text and "! bitsandbytes" in text and "✗ trl" in text and "· ram" in text
    assert 'fix: pip install -U "trl>=1.0"' in text
    assert text.strip().splitlines()[-1] == "1 ok, 1 warning, 1 problem"
    assert summary([Check("a", "ok", "")]) == "1 ok, 0 warnings, 0 problems"


def test_gather_facts_and_json_report_on_this_machine(capsys, tmp_path):
    facts = gather_facts(tmp_path / "runs")  # a runs folder that does not exist yet: its parent's disk
    assert facts.torch_version is not None and facts.packages["torch"] is not None
    assert facts.cuda_available is False and facts.driver_version is None and facts.gpus == []
    assert facts.disk_free_bytes and facts.disk_path == str(tmp_path.resolve())
    assert facts.ram_total_bytes and facts.ram_available_bytes
    capsys.readouterr()

    code = main(["doctor", "--json", "--runs-dir", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON object
    assert {c["name"] for c in report["checks"]} >= {"python", "torch", "gpu", "bitsandbytes", "ram", "disk"}
    assert set(report["checks"][0]) == {"name", "status", "detail", "fix"}
    assert report["facts"]["cuda_available"] is False
    assert code == (1 if any(c["status"] == "fail" for c in report["checks"]) else 0)


def test_a_config_that_does_not_fit_the_gpu_fails_with_the_plan_command():
    checks = by_name(diagnose(gpu_box(T4), need_gpu_bytes=16 * GIB))  # 15 GiB card, 13.5 usable
    fit = checks["fit"]
    assert fit.status == "fail" and "ftwiz plan" in fit.fix and "13.5 GiB usable" in fit.detail
    assert by_name(diagnose(gpu_box(A100), need_gpu_bytes=16 * GIB))["fit"].status == "ok"
    assert by_name(diagnose(cpu_box(), need_gpu_bytes=16 * GIB))["fit"].status == "info"  # planning on a laptop
    assert "fit" not in by_name(diagnose(gpu_box(A100)))  # no config, no fit check


def test_doctor_with_a_config_reports_its_needs(capsys, tmp_path):
    code = main(["doctor", "--json", "--runs-dir", str(tmp_path), "--config", "tiny-demo"])
    report = json.loads(capsys.readouterr().out)
    needs = report["needs"]
    assert needs["steps"] == 200 and needs["gpu_bytes"] > 0 and needs["disk_bytes"] > 0  # max_steps 200
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["disk"]["status"] == "ok" and "this run needs" in checks["disk"]["detail"]
    assert checks["fit"]["status"] == "info"  # no GPU on this machine
    assert code == (1 if any(c["status"] == "fail" for c in report["checks"]) else 0)


def test_doctor_checks_a_config_against_the_card_gpu_names(capsys, tmp_path):
    code = main(["doctor", "--json", "--runs-dir", str(tmp_path), "--config", "llama3-8b-qlora", "--gpu", "T4"])
    report = json.loads(capsys.readouterr().out)
    fit = {c["name"]: c for c in report["checks"]}["fit"]
    assert report["needs"]["gpu"] == "T4" and report["needs"]["dtype"] == "float16"  # no bf16 on a T4
    assert fit["status"] in ("ok", "fail") and "usable on T4" in fit["detail"]
    assert code == (1 if any(c["status"] == "fail" for c in report["checks"]) else 0)
    assert main(["doctor", "--gpu", "T4"]) == 2  # a card to check nothing against
    assert "--config" in capsys.readouterr().err
