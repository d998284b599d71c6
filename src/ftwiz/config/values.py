"""The values RunConfig fields take: the scheduler and optimizer names, target sets, durations and deadlines.

Pure: no pydantic models here, only the vocabularies and the parsers the schema's validators call.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]

Dtype = Literal["auto", "bfloat16", "float16", "float32"]

# transformers' SchedulerType values (checked against the installed enum in tests/unit/test_config.py).
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)
SchedulerName = Literal[SCHEDULERS]

# The optimizers people use for LoRA/QLoRA/full fine-tuning; all are names of transformers' OptimizerNames
# (checked in tests). Kept to a list so a typo is caught before a model is loaded.
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_8bit",
    "adamw_bnb_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adafactor",
    "sgd",
    "adagrad",
    "rmsprop",
    "lion_8bit",
    "paged_lion_8bit",
    "lion_32bit",
    "ademamix",
    "ademamix_8bit",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "schedule_free_adamw",
)
OptimizerName = Literal[OPTIMIZERS]

TARGET_SETS = ("attention_qv", "attention", "all_linear")
TARGET_SET_ALIASES = {"all-linear": "all_linear"}

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in "2h", "90m", "1h30m", "45s" or a bare number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _DURATION.match(text)
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"expected a duration such as '2h', '90m' or '1h30m', got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def deadline_at(deadline: str | float | int, start: datetime) -> datetime:
    """When a deadline falls for a run that started at `start` (timezone-aware): a duration counts from the start;
    a clock time ("18:30", the next one) or a date-time ("2026-11-24T06:00", "... +00:00") is when the box goes.
    Naive times are local."""
    try:
        return start + timedelta(seconds=parse_duration(deadline))
    except ValueError:
        pass
    text = str(deadline).strip()
    if _CLOCK.match(text):
        hour, minute = (int(x) for x in text.split(":"))
        local = start.astimezone()
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return at if at > local else at + timedelta(days=1)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected a duration ('2h', '90m'), a clock time ('18:30') or a date-time ('2026-11-24T06:00'), "
            f"got {deadline!r}"
        ) from None
    return at if at.tzinfo else at.astimezone()


ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
# A Hub kernel as transformers accepts it for attn_implementation (integrations/hub_kernels.py: is_kernel).
HUB_KERNEL = re.compile(r"^[^/:@\s]+/[^/:@\s]+(?:@[^/:@\s]+)?(?::[^/:@\s]+)?$")
