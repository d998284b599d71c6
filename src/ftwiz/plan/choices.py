"""What the recommender works with: the knobs a user fixed, one estimated configuration (a Candidate), and the
chosen Plan with its alternatives and reasons. Pure data, and the planner's constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftwiz.hardware.gpus import GpuChoice
from ftwiz.plan.memory import MemoryBreakdown, StaticBytes, TrainSetup
from ftwiz.plan.speed import SpeedEstimate

MARGIN = 0.10
STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")  # in order of preference at equal speed
DEEPSPEED_GAIN = 1.10  # DeepSpeed is one more package to install and build: chosen only when 10% faster
STRATEGY_NAMES = {
    "single": "one GPU",
    "ddp": "DDP (a whole replica per GPU)",
    "fsdp": "FSDP (weights, gradients and optimizer states sharded)",
    "deepspeed-zero2": "DeepSpeed ZeRO-2 (gradients and optimizer states sharded)",
    "deepspeed-zero3": "DeepSpeed ZeRO-3 (weights, gradients and optimizer states sharded)",
}
BATCHES = (1, 2, 4, 8, 16, 32)
DEFAULT_EFFECTIVE_BATCH = 16
DEFAULT_SEQ_LEN = 2048
# Full fine-tuning takes the fused AdamW (transformers' own default on torch >= 2.8): the foreach one copies every
# second moment in its step, +2 bytes per parameter at the peak in bf16 (plan/memory.py: optimizer_step_bytes).
DEFAULT_OPTIMIZER = {"full": "adamw_torch_fused", "lora": "adamw_torch", "qlora": "paged_adamw_8bit"}


@dataclass(frozen=True)
class Knobs:
    """What the user fixed; None means "recommend it"."""

    adapter: str | None = None
    rank: int | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    grad_accum: int | None = None
    gradient_checkpointing: bool | None = None
    optimizer: str | None = None
    targets: str | list[str] = "all_linear"
    effective_batch: int = DEFAULT_EFFECTIVE_BATCH
    strategy: str | None = None  # several GPUs: ddp | fsdp | deepspeed-zero2 | deepspeed-zero3
    cpu_offload: bool | None = None
    loss: str | None = None  # fused (TRL's fused LM head) or full (whole logits); None: the installed stack's
    activation_offloading: bool | None = None  # TRL's; None: tried only when nothing fits without it
    liger: bool | None = None  # Liger's RMSNorm/RoPE/SwiGLU kernels; None: tried only when nothing fits
    method: str = "sft"  # the objective: paired ones run two sequences a row, ORPO builds the whole logits


@dataclass(frozen=True)
class Candidate:
    setup: TrainSetup
    grad_accum: int
    memory: MemoryBreakdown
    speed: SpeedEstimate
    fits: bool
    targets: str | list[str]
    whole: StaticBytes | None = None  # the same states before sharding or offload

    def to_dict(self) -> dict[str, Any]:
        s = self.setup
        return {
            "config": {
                "adapter": s.adapter,
                "rank": None if s.adapter == "full" else s.rank,
                "batch_size": s.batch_size,
                "seq_len": s.seq_len,
                "grad_accum": self.grad_accum,
                "gradient_checkpointing": s.gradient_checkpointing,
                "optimizer": s.optimizer,
                "targets": None if s.adapter == "full" else self.targets,
                "strategy": s.strategy,
                "cpu_offload": s.cpu_offload,
            },
            "peak_bytes": self.memory.total,
            "breakdown": self.memory.to_dict(),
            "fits": self.fits,
            "step_seconds": round(self.speed.step_seconds, 4),
            "tokens_per_second": round(self.speed.tokens_per_second, 1),
            **({"host_bytes_per_process": self.memory.offloaded} if self.memory.offloaded else {}),
        }


@dataclass
class Plan:
    gpu: GpuChoice  # count: GPUs per machine
    budget_bytes: int
    best: Candidate
    alternatives: list[Candidate]
    reasons: list[str]
    tokens: int | None = None
    epochs: float = 1.0
    price_per_hour: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    nodes: int = 1
    learning_rate: float | None = None  # the recommended train.learning_rate (None: the config's stands)

    @property
    def world_size(self) -> int:
        return self.gpu.count * self.nodes

    @property
    def total_seconds(self) -> float | None:
        if self.tokens is None or not self.best.speed.tokens_per_second:
            return None
        return self.tokens * self.epochs / self.best.speed.tokens_per_second

    @property
    def cost(self) -> float | None:
        seconds, price = self.total_seconds, self.price_per_hour
        return None if seconds is None or price is None else seconds / 3600 * price * self.world_size

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gpu": {"name": self.gpu.gpu.name, "memory_bytes": self.gpu.gpu.memory_bytes, "count": self.gpu.count},
            "nodes": self.nodes,
            "strategy": self.best.setup.strategy,
            **self.best.to_dict(),
            "reasons": self.reasons,
            "alternatives": [c.to_dict() for c in self.alternatives],
            "budget_bytes": self.budget_bytes,
            "mfu": self.best.speed.mfu,
        }
        if self.learning_rate is not None:
            data["learning_rate"] = self.learning_rate
        if self.total_seconds is not None:
            data["tokens"] = self.tokens
            data["total_seconds"] = round(self.total_seconds, 1)
            data["cost"] = None if self.cost is None else round(self.cost, 2)
        return data | self.extra
