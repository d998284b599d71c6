"""`ftwiz doctor`: is this (often rented) machine ready to train, and if not, the exact command that fixes it.

Two halves so the judgement is testable without a GPU: `gather_facts` looks at the machine (it imports torch,
bitsandbytes and flash-attn inside the function, so importing this module stays light) and returns a plain
`Facts`; `diagnose` is a pure function from `Facts` to a list of `Check`s, each with a `fix` command when the
status is not ok. `render` prints them with rich; `cmd_doctor` is the CLI entry point.

Exit code of `ftwiz doctor`: 0 when no check failed (warnings and notes do not count), 1 when any check failed.
With `--json`, stdout holds exactly one JSON object: `{"checks": [{name, status, detail, fix}], "facts": {...}}`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.version import InvalidVersion, Version

from ftwiz.errors import ExitCode
from ftwiz.hardware.probe import GpuInfo, Probe, probe_hardware

if TYPE_CHECKING:
    from rich.console import Console

Status = Literal["ok", "warn", "fail", "info"]

TORCH_INDEX = "https://download.pytorch.org/whl"
# PyTorch's CUDA wheel indexes, oldest first; a wheel runs on a driver whose CUDA version is at least the wheel's.
CUDA_WHEELS = ("cu118", "cu121", "cu124", "cu126", "cu128")
# Minimum versions ftwiz is written against (the `train` extra in pyproject.toml).
MIN_TORCH = "2.4"
MIN_VERSIONS = {"transformers": "5.0", "peft": "0.18", "trl": "1.0", "accelerate": "1.0", "datasets": "3.0"}
MIN_BITSANDBYTES_CPU = "0.45"  # 4-bit quantization on the CPU
PACKAGES = ("torch", *MIN_VERSIONS, "bitsandbytes", "flash-attn")
FLASH_ATTN_INSTALL = "pip install flash-attn --no-build-isolation"


@dataclass
class Check:
    """One line of the report: what was checked, how it went, and the command that fixes it when not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


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


# --- gathering (touches the machine) ---------------------------------------------------------------------------


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


# --- diagnosis (pure) ------------------------------------------------------------------------------------------


def diagnose(
    facts: Facts,
    *,
    need_disk_bytes: int | None = None,
    need_ram_bytes: int | None = None,
    need_gpu_bytes: int | None = None,
) -> list[Check]:
    """The checks, in the order a user fixes things: Python, torch, GPU/CUDA, dtypes, kernels, libraries, space;
    with a config's needs (`ftwiz doctor --config`), whether its estimate fits these GPUs, RAM and disk."""
    checks = [Check("python", "ok", f"Python {facts.python_version}")]
    checks.append(_check_torch(facts))
    checks.append(_check_gpu(facts))
    cuda = _check_cuda(facts)
    if cuda is not None:
        checks.append(cuda)
    if facts.gpus:
        checks.append(_check_bf16(facts))
    checks.append(_check_flash_attn(facts))
    checks.append(_check_bitsandbytes(facts))
    checks.extend(_check_library(facts, name, minimum) for name, minimum in MIN_VERSIONS.items())
    if need_gpu_bytes is not None:
        checks.append(_check_fit(facts, need_gpu_bytes))
    checks.append(_check_ram(facts, need_ram_bytes))
    checks.append(_check_disk(facts, need_disk_bytes))
    return checks


def _check_fit(facts: Facts, need: int) -> Check:
    """The planner's peak per GPU against the smallest GPU here, less the planner's 10% margin."""
    from ftwiz.plan.recommend import MARGIN

    sizes = [g.total_bytes for g in facts.gpus if g.total_bytes]
    if not sizes:
        return Check("fit", "info", f"no GPU here; this config needs ~{_gib(need)} per GPU (`ftwiz plan` for a card)")
    usable = int(min(sizes) * (1 - MARGIN))
    detail = f"this config needs ~{_gib(need)} per GPU; {_gib(usable)} usable on the smallest GPU here"
    if need > usable:
        fix = "ftwiz plan --model MODEL (or Ctrl+R in the wizard) for a configuration that fits, or a bigger GPU"
        return Check("fit", "fail", detail, fix)
    return Check("fit", "ok", detail)


def wheel_index(driver_cuda: str | None) -> str | None:
    """The newest PyTorch CUDA wheel tag (cu118 ... cu128) the driver can run, or None if it is older than all."""
    driver = _version(driver_cuda)
    if driver is None:
        return None
    fitting = [tag for tag in CUDA_WHEELS if Version(f"{tag[2:-1]}.{tag[-1]}") <= driver]
    return fitting[-1] if fitting else None


def torch_install_command(facts: Facts, *, upgrade: bool = False) -> str:
    """`pip install torch` from the wheel index that matches this machine: the driver's CUDA, else the CPU build."""
    spec = f'"torch>={MIN_TORCH}"' if upgrade else "torch"
    if facts.driver_version is not None or facts.gpus:
        tag = wheel_index(facts.driver_cuda)
        if tag is None:
            return f"upgrade the NVIDIA driver (CUDA >= 11.8), then: pip install {spec} --index-url {TORCH_INDEX}/cu118"
        return f"pip install {'-U ' if upgrade else ''}{spec} --index-url {TORCH_INDEX}/{tag}"
    return f"pip install {'-U ' if upgrade else ''}{spec} --index-url {TORCH_INDEX}/cpu"


def _check_torch(facts: Facts) -> Check:
    if facts.torch_version is None:
        if facts.torch_error is not None:
            fix = f"pip uninstall -y torch && {torch_install_command(facts)}"
            return Check("torch", "fail", f"installed but broken: {facts.torch_error}", fix)
        return Check("torch", "fail", "not installed (needed to train)", torch_install_command(facts))
    build = f"CUDA {facts.torch_cuda} build" if facts.torch_cuda else "CPU build"
    if _older(facts.torch_version, MIN_TORCH):
        detail = f"{facts.torch_version} ({build}) is older than {MIN_TORCH}"
        return Check("torch", "fail", detail, torch_install_command(facts, upgrade=True))
    if facts.torch_error is not None:  # imported, but CUDA failed to initialise
        detail = f"{facts.torch_version} ({build}): {facts.torch_error}"
        return Check("torch", "fail", detail, "check `nvidia-smi` works; reboot after a driver upgrade")
    return Check("torch", "ok", f"{facts.torch_version} ({build})")


def _check_gpu(facts: Facts) -> Check:
    if not facts.gpus:
        detail = "CPU only: training works for tiny models; plan with `ftwiz plan --model M --gpu A100-80GB`"
        if facts.no_gpu_reason:
            detail += f" ({facts.no_gpu_reason})"
        return Check("gpu", "info", detail)
    names = ", ".join(
        f"{g.name} (sm_{g.compute_capability[0]}{g.compute_capability[1]}{_gib_suffix(g)})" for g in facts.gpus
    )
    driver = f"; driver {facts.driver_version}" if facts.driver_version else ""
    driver += f" (CUDA {facts.driver_cuda})" if facts.driver_cuda else ""
    return Check("gpu", "ok", f"{len(facts.gpus)} x {names}{driver}")


def _check_cuda(facts: Facts) -> Check | None:
    """torch's CUDA build against the driver: the commonest breakage on a fresh rented box."""
    if facts.torch_version is None or (facts.driver_version is None and not facts.gpus):
        return None  # no torch (reported above) or no NVIDIA GPU (the CPU-only note says it)
    if facts.torch_cuda is None:
        tag = wheel_index(facts.driver_cuda)
        detail = f"torch {facts.torch_version} is a CPU build but an NVIDIA driver is present"
        if facts.driver_cuda:
            detail += f" (CUDA {facts.driver_cuda})"
        if tag is None:
            fix = f"upgrade the NVIDIA driver (CUDA >= 11.8), then: pip install torch --index-url {TORCH_INDEX}/cu118"
        else:
            fix = f"pip uninstall -y torch && pip install torch --index-url {TORCH_INDEX}/{tag}"
        return Check("cuda", "fail", detail, fix)
    built, driver = _version(facts.torch_cuda), _version(facts.driver_cuda)
    if built is not None and driver is not None and _major_minor(built) > _major_minor(driver):
        tag = wheel_index(facts.driver_cuda)
        fix = f"upgrade the NVIDIA driver to one supporting CUDA {facts.torch_cuda}"
        if tag is not None:
            fix += f", or: pip uninstall -y torch && pip install torch --index-url {TORCH_INDEX}/{tag}"
        detail = (
            f"torch is built for CUDA {facts.torch_cuda} but driver {facts.driver_version} "
            f"supports CUDA {facts.driver_cuda}"
        )
        if facts.cuda_available:  # CUDA minor-version compatibility: it runs, but PTX-JIT kernels can fail
            return Check("cuda", "warn", detail + " (runs through minor-version compatibility)", fix)
        return Check("cuda", "fail", detail + ": the driver is too old", fix)
    if not facts.cuda_available:
        detail = f"torch (CUDA {facts.torch_cuda} build) cannot use the GPU the driver reports"
        if facts.cuda_visible_devices is not None:
            detail += f"; CUDA_VISIBLE_DEVICES={facts.cuda_visible_devices!r}"
        fix = "check `nvidia-smi` and CUDA_VISIBLE_DEVICES; in a container, start it with `--gpus all`"
        return Check("cuda", "fail", detail, fix)
    driver_text = f", driver CUDA {facts.driver_cuda}" if facts.driver_cuda else ""
    return Check("cuda", "ok", f"torch CUDA {facts.torch_cuda}{driver_text}: {len(facts.gpus)} GPU(s) usable")


def _check_bf16(facts: Facts) -> Check:
    old = [g for g in facts.gpus if not g.bf16]
    if facts.bf16_supported is False or old:
        which = ", ".join(f"{g.name} (sm_{g.compute_capability[0]}{g.compute_capability[1]})" for g in old)
        detail = f"no native bf16 on {which or 'this GPU'}: fp16 will be used (bf16 needs compute capability 8.0+)"
        return Check(
            "bf16",
            "warn",
            detail,
            "add `--set model.dtype=float16` to the ftwiz command (or rent an Ampere or newer GPU for bf16)",
        )
    return Check("bf16", "ok", "supported: training runs in bf16")


def _check_flash_attn(facts: Facts) -> Check:
    version = facts.packages.get("flash-attn")
    old = [g for g in facts.gpus if tuple(g.compute_capability) < (8, 0)]
    if not facts.gpus:
        detail = "no GPU: SDPA attention is used" + (f" (flash-attn {version} installed, unused)" if version else "")
        return Check("flash-attn", "info", detail)
    if old:
        cc = old[0].compute_capability
        if version is None:
            detail = f"not supported on {old[0].name} (compute capability {cc[0]}.{cc[1]} < 8.0): SDPA is used"
            return Check("flash-attn", "info", detail)
        detail = f"flash-attn {version} installed but {old[0].name} (compute capability {cc[0]}.{cc[1]}) is too old"
        return Check("flash-attn", "warn", detail + "; SDPA is used", "pip uninstall -y flash-attn")
    if version is None:
        detail = f"not installed (SDPA is used; `{FLASH_ATTN_INSTALL}` for ~10-20% faster long sequences)"
        return Check("flash-attn", "info", detail)
    if facts.flash_attn_importable is False:
        detail = f"flash-attn {version} installed but does not import: {facts.flash_attn_error}"
        return Check("flash-attn", "warn", detail, f"pip uninstall -y flash-attn && {FLASH_ATTN_INSTALL}")
    return Check("flash-attn", "ok", f"flash-attn {version}: attn_implementation=flash_attention_2 available")


def _check_bitsandbytes(facts: Facts) -> Check:
    version = facts.packages.get("bitsandbytes")
    if version is None:
        return Check(
            "bitsandbytes", "warn", "not installed (needed for QLoRA and 8-bit optimizers)", "pip install bitsandbytes"
        )
    if facts.bitsandbytes_importable is False:
        detail = f"{version} installed but does not import: {facts.bitsandbytes_error}"
        return Check("bitsandbytes", "warn", detail, "pip install -U --force-reinstall bitsandbytes")
    if not facts.gpus:
        if _older(version, MIN_BITSANDBYTES_CPU):
            detail = f"{version}: 4-bit on the CPU needs {MIN_BITSANDBYTES_CPU}+"
            return Check("bitsandbytes", "warn", detail, f'pip install -U "bitsandbytes>={MIN_BITSANDBYTES_CPU}"')
        return Check("bitsandbytes", "ok", f"{version} (4-bit works on the CPU since 0.45, but slowly)")
    return Check("bitsandbytes", "ok", version)


def _check_library(facts: Facts, name: str, minimum: str) -> Check:
    version = facts.packages.get(name)
    fix = f'pip install -U "{name}>={minimum}"'
    if version is None:
        return Check(name, "fail", f"not installed (ftwiz needs {name}>={minimum})", fix)
    if _older(version, minimum):
        return Check(name, "fail", f"{version} is older than {minimum}", fix)
    return Check(name, "ok", version)


def _check_ram(facts: Facts, need: int | None) -> Check:
    if facts.ram_total_bytes is None and facts.ram_available_bytes is None:
        return Check("ram", "info", "unknown")
    detail = f"{_gib(facts.ram_available_bytes)} available of {_gib(facts.ram_total_bytes)}"
    if need is not None and facts.ram_available_bytes is not None:
        if facts.ram_available_bytes < need:
            fix = "stop other processes (`ps aux --sort=-rss | head`), use QLoRA or a smaller model, or more RAM"
            return Check("ram", "fail", f"{detail}; this run needs {_gib(need)}", fix)
        return Check("ram", "ok", f"{detail}; this run needs {_gib(need)}")
    return Check("ram", "info", detail)


def _check_disk(facts: Facts, need: int | None) -> Check:
    if facts.disk_free_bytes is None:
        return Check("disk", "info", f"free space at {facts.disk_path} unknown")
    detail = f"{_gib(facts.disk_free_bytes)} free at {facts.disk_path}"
    if need is not None:
        if facts.disk_free_bytes < need:
            fix = f"free space at {facts.disk_path} (`du -sh * | sort -h`) or set output.runs_dir to a larger disk"
            return Check("disk", "fail", f"{detail}; this run needs {_gib(need)}", fix)
        return Check("disk", "ok", f"{detail}; this run needs {_gib(need)}")
    return Check("disk", "info", detail)


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _major_minor(version: Version) -> tuple[int, int]:
    return version.major, version.minor


def _older(version: str, minimum: str) -> bool:
    """True when `version` is below `minimum`; an unparsable version is given the benefit of the doubt."""
    parsed = _version(version)
    return parsed is not None and parsed.release < Version(minimum).release


def _gib(n: int | None) -> str:
    return "? GiB" if n is None else f"{n / 2**30:.1f} GiB"


def _gib_suffix(gpu: GpuFact) -> str:
    return f", {_gib(gpu.total_bytes)}" if gpu.total_bytes else ""


# --- output ----------------------------------------------------------------------------------------------------

_MARKS: dict[str, tuple[str, str]] = {
    "ok": ("✓", "green"),
    "warn": ("!", "yellow"),
    "fail": ("✗", "red"),
    "info": ("·", "dim"),
}


def summary(checks: list[Check]) -> str:
    """'3 ok, 1 warning, 0 problems' (notes are not counted)."""
    ok = sum(c.status == "ok" for c in checks)
    warn = sum(c.status == "warn" for c in checks)
    fail = sum(c.status == "fail" for c in checks)
    return f"{ok} ok, {warn} warning{'' if warn == 1 else 's'}, {fail} problem{'' if fail == 1 else 's'}"


def render(checks: list[Check], console: Console) -> None:
    """One line per check, the fix indented below it (not hard-wrapped, so it pastes whole), then a summary."""
    from rich.table import Table
    from rich.text import Text

    width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        mark, style = _MARKS[check.status]
        row = Table.grid(padding=(0, 1))  # a grid per check: long details wrap under the detail, not the mark
        row.add_column(width=1)
        row.add_column(width=width + 1)
        row.add_column()
        row.add_row(Text(mark, style), Text(check.name, "bold"), Text(check.detail))
        console.print(row)
        if check.fix:
            console.print(Text(f"{' ' * (width + 4)}fix: {check.fix}", style="cyan"), soft_wrap=True)
    fails = any(c.status == "fail" for c in checks)
    warns = any(c.status == "warn" for c in checks)
    console.print(Text(summary(checks), style="bold red" if fails else "bold yellow" if warns else "bold green"))


def cmd_doctor(args: argparse.Namespace) -> int:
    """`ftwiz doctor [--json] [--runs-dir DIR] [--config FILE|PRESET]`: 0 when no check failed, 1 when any did
    (a bad config exits 2 like everywhere else)."""
    from ftwiz.runs.registry import runs_dir

    needs = None
    if getattr(args, "config", None):  # what this run asks of the machine, from the planner's estimate
        from ftwiz.config.presets import load_config
        from ftwiz.plan.needs import config_needs, training_rows

        config = load_config(args.config).config
        needs = config_needs(config, training_rows(config))
    facts = gather_facts(runs_dir(getattr(args, "runs_dir", None)))
    checks = diagnose(
        facts,
        need_disk_bytes=needs.disk_bytes if needs else None,
        need_ram_bytes=needs.ram_bytes if needs else None,
        need_gpu_bytes=needs.gpu_bytes if needs else None,
    )
    if getattr(args, "json", False):
        data = {"checks": [asdict(c) for c in checks], "facts": facts.to_dict()}
        print(json.dumps(data | ({"needs": asdict(needs)} if needs else {})))
    else:
        from rich.console import Console

        render(checks, Console())
    return int(ExitCode.RUN_FAILED if any(c.status == "fail" for c in checks) else ExitCode.OK)
