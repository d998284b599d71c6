"""`ftwiz doctor`'s judgement: a pure function from `Facts` to `Check`s, in the order a user fixes things, each
with the exact command that fixes it when the status is not ok. Testable without a GPU: hand it the facts of any
machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

from ftwiz.hardware.facts import MIN_BITSANDBYTES_CPU, MIN_TORCH, MIN_VERSIONS, Facts, GpuFact

Status = Literal["ok", "warn", "fail", "info"]

TORCH_INDEX = "https://download.pytorch.org/whl"
# PyTorch's CUDA wheel indexes, oldest first; a wheel runs on a driver whose CUDA version is at least the wheel's.
CUDA_WHEELS = ("cu118", "cu121", "cu124", "cu126", "cu128")
FLASH_ATTN_INSTALL = "pip install flash-attn --no-build-isolation"
HUB_FLASH_KERNEL = "kernels-community/flash-attn2"  # transformers' fallback for flash_attention_2 (hub_kernels.py)


@dataclass
class Check:
    """One line of the report: what was checked, how it went, and the command that fixes it when not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class GpuNeed:
    """What a config's estimate asks of each GPU (`ftwiz doctor --config`), and the card it was estimated for."""

    bytes: int  # the planner's peak per GPU
    dtype: str  # what it trains in on that card
    card: str | None = None  # a card named with --gpu; None: the GPUs of this machine
    card_bytes: int | None = None  # the named card's capacity
    margin: float = 0.10  # the planner's safety margin


def diagnose(
    facts: Facts,
    *,
    need_disk_bytes: int | None = None,
    need_ram_bytes: int | None = None,
    need_gpu_bytes: int | None = None,
    gpu_need: GpuNeed | None = None,
) -> list[Check]:
    """The checks, in the order a user fixes things: Python, torch, GPU/CUDA, dtypes, kernels, libraries, space;
    with a config's needs (`ftwiz doctor --config`), whether its estimate fits these GPUs (or the card it names),
    RAM and disk. `need_gpu_bytes` is a bare GpuNeed in bf16."""
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
    if gpu_need is None and need_gpu_bytes is not None:
        gpu_need = GpuNeed(need_gpu_bytes, "bfloat16")
    if gpu_need is not None:
        checks.append(_check_fit(facts, gpu_need))
    checks.append(_check_ram(facts, need_ram_bytes))
    checks.append(_check_disk(facts, need_disk_bytes))
    return checks


def _check_fit(facts: Facts, need: GpuNeed) -> Check:
    """The planner's peak per GPU against the card the config was estimated for (or the smallest GPU here),
    less the planner's margin."""
    needs = f"this config needs ~{_gib(need.bytes)} per GPU in {need.dtype}"
    if need.card is not None and need.card_bytes:
        where, capacity = need.card, need.card_bytes
    else:
        sizes = [g.total_bytes for g in facts.gpus if g.total_bytes]
        if not sizes:
            return Check(
                "fit",
                "info",
                f"no GPU here; {needs} (the planner's default without a card: "
                "--gpu G checks one, as `ftwiz plan --gpu G` does)",
            )
        where, capacity = "the smallest GPU here", min(sizes)
    usable = int(capacity * (1 - need.margin))
    detail = f"{needs}; {_gib(usable)} usable on {where}"
    if need.bytes > usable:
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
        kernels = facts.packages.get("kernels")
        if kernels:
            detail = (
                f"flash-attn not installed; kernels {kernels} is: attn_implementation=flash_attention_2 loads the "
                f"prebuilt {HUB_FLASH_KERNEL} instead (fetched from the Hub once, then cached)"
            )
            return Check("flash-attn", "ok", detail)
        detail = (
            f"not installed (SDPA is used). For ~10-20% faster long sequences: `pip install kernels` (a prebuilt "
            f"FlashAttention from the Hub, {HUB_FLASH_KERNEL}; seconds) or `{FLASH_ATTN_INSTALL}` (compiles "
            "without a matching wheel: can take an hour)"
        )
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


def summary(checks: list[Check]) -> str:
    """'3 ok, 1 warning, 0 problems' (notes are not counted)."""
    ok = sum(c.status == "ok" for c in checks)
    warn = sum(c.status == "warn" for c in checks)
    fail = sum(c.status == "fail" for c in checks)
    return f"{ok} ok, {warn} warning{'' if warn == 1 else 's'}, {fail} problem{'' if fail == 1 else 's'}"
