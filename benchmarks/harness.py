"""Run one RunConfig through ftwiz's own worker code for a few optimizer steps and measure its memory.

Shared by `benchmarks/memory/measure_cpu.py` (peak live tensor bytes on the CPU) and `benchmarks/gpu/measure.py`
(torch.cuda's counters and NVML on a GPU). The model and trainer are built exactly as `python -m ftwiz.train`
builds them (`ftwiz.train.recipe.load_data` and `build_trainer`: tokenizer, model, quantization, PEFT, TRL
trainer); only the weights are random and the data synthetic, so nothing is downloaded. The planner's estimate
for the same config comes from `ftwiz.train.reports.estimate_run`, the one the worker writes into plan.json.

`LiveTensorBytes` is the CPU analogue of `torch.cuda.max_memory_allocated`: a TorchDispatchMode that sees every
tensor an op returns or takes, keys it by its storage (views share one) and frees it through a weakref finalizer
on the storage, so the peak counts every storage alive at once. Hand-written because torch's
`torch.distributed._tools.mem_tracker.MemTracker` attributes memory per module through hooks, which PEFT's
wrappers and checkpointing's re-entrant forward confuse; the storage count is all this needs.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ftwiz import bundled
from ftwiz.config.schema import RunConfig
from ftwiz.runs.store import LocalStatus, RunDir

MIB = 1024**2
# Keys of a published config.json that describe its file, not the architecture.
CONFIG_NOISE = ("architectures", "torch_dtype", "dtype", "transformers_version", "auto_map")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of every tensor storage alive, and their peak, while the mode is active (plus `register`ed ones)."""

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[int, int] = {}  # id(storage) -> bytes
        self.current = 0
        self.peak = 0

    def register(self, *tensors: torch.Tensor) -> None:
        """Count tensors that exist already (the model's weights, loaded before the mode)."""
        for t in tensors:
            self._track(t)

    def _track(self, t: Any) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # a tensor subclass without a plain storage
            return
        key = id(storage)
        if key in self._live:
            return
        size = storage.nbytes()
        self._live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves((args, kwargs, out)):
            self._track(t)
        return out


def model_tensors(model: Any) -> list[torch.Tensor]:
    """Parameters, buffers and bitsandbytes' quantization states (absmax, code) of a model."""
    tensors: list[torch.Tensor] = [*model.parameters(), *model.buffers()]
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        while state is not None:
            tensors += [v for v in vars(state).values() if isinstance(v, torch.Tensor)]
            state = getattr(state, "state2", None)
    return tensors


def make_model(
    folder: Path, architecture: dict[str, Any], seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> Path:
    """A random-initialised model from a config dict (`model_type` and its fields), saved with the tiny demo's
    tokenizer. The tokenizer's ids are a subset of any vocabulary, so the logits keep the config's width.
    On a GPU the weights are initialised there (`device="cuda"`, bf16): an 8B model in seconds, not minutes."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if (folder / "tokenizer.json").is_file():
        return folder
    fields = {k: v for k, v in architecture.items() if not k.startswith("_") and k not in CONFIG_NOISE}
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder)
    del model
    demo = bundled.ASSETS / "tiny-demo" / "model"
    for name in TOKENIZER_FILES:
        if (demo / name).is_file():
            shutil.copy(demo / name, folder / name)
    return folder


WORDS = (
    *("the", "a", "shop", "city", "apples", "hats", "chairs", "bought", "paid", "name"),
    *("item", "count", "list", "fields", "please", "at", "in", "for", "of"),
)


def write_data(path: Path, kind: str, rows: int, words: int, seed: int = 0) -> Path:
    """Synthetic rows longer than the sequence, so every batch is truncated to exactly `data.max_length` tokens:
    `text` (every token trains), `chat` (a short prompt, a long answer: answers-only loss), `preference`."""
    rng = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    with path.open("w") as f:
        for _ in range(rows):
            if kind == "text":
                row: dict[str, Any] = {"text": sentence(words)}
            elif kind == "chat":
                row = {
                    "messages": [
                        {"role": "user", "content": sentence(words // 8)},
                        {"role": "assistant", "content": sentence(words)},
                    ]
                }
            else:
                row = {"prompt": sentence(words // 8), "chosen": sentence(words), "rejected": sentence(words)}
            f.write(json.dumps(row) + "\n")
    return path


@dataclass
class Case:
    """One configuration to measure: a model architecture and the RunConfig keys that differ from the base."""

    name: str
    architecture: dict[str, Any]
    keys: dict[str, Any] = field(default_factory=dict)
    data: str = "text"  # text | chat | preference

    def run_config(self, model: Path, data: Path, batch: int, seq: int, steps: int) -> RunConfig:
        raw: dict[str, Any] = {
            "model": {"id": str(model)},
            "data": {"path": str(data), "max_length": seq, "val_size": 0},
            "train": {
                "max_steps": steps,
                "per_device_train_batch_size": batch,
                "logging_steps": 1,
                "save_steps": None,
                "warmup_steps": 0,
            },
        }
        for dotted, value in self.keys.items():
            node = raw
            *parents, last = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return RunConfig.model_validate(raw)


@dataclass
class Measured:
    name: str
    config: RunConfig
    peak_bytes: int  # LiveTensorBytes' peak (CPU) or max_memory_allocated (GPU)
    estimate: Any  # ftwiz.plan.estimate.Estimate, as the worker computes it
    seconds: float
    tokens: int  # trained tokens over the measured steps
    extra: dict[str, Any] = field(default_factory=dict)


def model_folder(work: Path, architecture: dict[str, Any]) -> Path:
    return work / "models" / _slug(architecture)


def build(case: Case, work: Path, batch: int, seq: int, steps: int) -> tuple[RunConfig, Any, Any]:
    """The config and the worker's trainer for a case (model and data made under `work`)."""
    from ftwiz.train import recipe

    model = make_model(model_folder(work, case.architecture), case.architecture)
    words = seq * 2  # the demo tokenizer spends about one token a word: rows run past the sequence
    data = write_data(work / f"{case.data}-{seq}.jsonl", case.data, rows=batch * steps + 4, words=words)
    config = case.run_config(model, data, batch, seq, steps)
    run = RunDir(work / "runs" / case.name)
    shutil.rmtree(run.path, ignore_errors=True)
    run.path.mkdir(parents=True)
    status = LocalStatus()
    decisions: list[str] = []
    loaded = recipe.load_data(config, decisions)
    job = recipe.build_trainer(run, config, status, loaded, decisions, checkpoint=None, main=True)
    return config, job.trainer, loaded


def measure_cpu(case: Case, work: Path, batch: int, seq: int, steps: int = 2) -> Measured:
    """Peak live tensor bytes of `steps` optimizer steps on the CPU, beside the planner's estimate."""
    from ftwiz.train.reports import estimate_run

    config, trainer, loaded = build(case, work, batch, seq, steps)
    planned = estimate_run(config, trainer.model, rows=len(loaded.train))
    tracker = LiveTensorBytes()
    tracker.register(*model_tensors(trainer.model))
    start = time.perf_counter()
    with tracker:
        trainer.train()
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen or batch * seq * steps)
    return Measured(case.name, config, tracker.peak, planned, seconds, tokens)


class StepTimes:
    """A TrainerCallback's clock: when each optimizer step ended (tokens/s from the steps after the first)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def callback(self) -> Any:
        from transformers import TrainerCallback

        times = self

        class _Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                times.ends.append(time.perf_counter())

        return _Clock()

    def seconds_per_step(self) -> float | None:
        """Mean step time after the first (warm-up: kernels compiled, allocator grown), None below 2 steps."""
        if len(self.ends) < 2:
            return None
        return (self.ends[-1] - self.ends[0]) / (len(self.ends) - 1)


class NvmlPeak:
    """The device's used memory sampled every `every` seconds on a thread (what nvidia-smi shows: the CUDA
    context, the allocator's whole reserve, and anything else on the card), as a peak above `baseline`."""

    def __init__(self, index: int = 0, every: float = 0.02) -> None:
        import threading

        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.baseline = self.used()
        self.peak = self.baseline
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, self.used())

    def __enter__(self) -> NvmlPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.used())

    @property
    def peak_above_baseline(self) -> int:
        return self.peak - self.baseline


def measure_gpu(
    case: Case, work: Path, batch: int, seq: int, steps: int, nvml: NvmlPeak | None, extra: dict[str, Any]
) -> Measured:
    """torch.cuda's peak allocated and reserved bytes over `steps` optimizer steps (weights loaded inside the
    window, as the estimate counts them), NVML's peak, and tokens/s after the first step. Raises
    torch.cuda.OutOfMemoryError as the worker would; `extra` (the caller's) then still holds the peaks so far."""
    from ftwiz.train.reports import estimate_run

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    clock = StepTimes()
    start = time.perf_counter()
    try:
        if nvml is not None:
            nvml.__enter__()
        config, trainer, loaded = build(case, work, batch, seq, steps)
        planned = estimate_run(config, trainer.model, rows=len(loaded.train))
        trainer.add_callback(clock.callback())
        trainer.train()
        torch.cuda.synchronize()
    finally:
        if nvml is not None:
            nvml.__exit__()
            extra["nvml_peak_bytes"] = nvml.peak_above_baseline
        extra["reserved_bytes"] = torch.cuda.max_memory_reserved()
        extra["allocated_bytes"] = torch.cuda.max_memory_allocated()
        extra["seconds_per_step"] = clock.seconds_per_step()
    seconds = time.perf_counter() - start
    tokens = batch * seq * steps
    return Measured(case.name, config, extra["allocated_bytes"], planned, seconds, tokens, extra)


def _slug(architecture: dict[str, Any]) -> str:
    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size")
    return "-".join(str(architecture.get(k, "")) for k in keys)
