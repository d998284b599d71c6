"""Turn pydantic's validation errors into one line per problem a user can act on.

    broken.yaml:7: adapter.r: expected a positive integer, got 'eight'
    broken.yaml:12: train.lr: unknown key; did you mean 'learning_rate'?

Pydantic's own messages speak of types ("Input should be a valid integer"); users think in keys and
allowed values, so the expected value is described from the field's annotation and constraints.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

import annotated_types as at
from pydantic import BaseModel, ValidationError

# Names users bring from other tools (TrainingArguments, axolotl, llama-factory...) -> ours.
SYNONYMS = {
    "rank": "r",
    "lora_r": "r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "lr": "learning_rate",
    "epochs": "num_train_epochs",
    "num_epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
    "micro_batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "gradient_accumulation": "gradient_accumulation_steps",
    "warmup_ratio": "warmup_steps",
    "seq_len": "max_length",
    "sequence_len": "max_length",
    "max_seq_length": "max_length",
    "optimizer": "optim",
    "scheduler": "lr_scheduler_type",
    "targets": "target_modules",
    "name": "id",
    "model_name": "id",
    "dataset": "path",
    "load_in_4bit": "bits",
    "bnb_4bit_quant_type": "type",
    "bnb_4bit_use_double_quant": "double_quant",
    "bnb_4bit_compute_dtype": "compute_dtype",
    "output_dir": "runs_dir",
}

# Values people type for a choice -> the name ftwiz uses.
VALUE_SYNONYMS = {
    "adam": "adamw_torch",
    "adamw": "adamw_torch",
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
    "4bit": "4",
    "8bit": "8",
}

Loc = tuple[str | int, ...]


def format_problems(
    error: ValidationError, model: type[BaseModel], origins: Mapping[Loc, str] | None = None
) -> list[str]:
    """One line per bad key, each naming the key path, the bad value and what is allowed."""
    by_field: dict[Loc, list[dict[str, Any]]] = {}
    for err in error.errors(include_url=False):
        path, _ = _field_path(model, tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            path = tuple(err["loc"])  # the unknown key itself is the subject
        by_field.setdefault(path, []).append(err)
    lines: list[tuple[int, str]] = []
    for path, errs in by_field.items():
        message = _describe_problem(model, path, errs)
        if not path:
            # A whole-config check (RunConfig's model validator) names its own key: "quant.bits: ...".
            key, sep, _ = message.partition(": ")
            named = tuple(key.split(".")) if sep and " " not in key else ()
            where = _origin(origins or {}, named)
            lines.append((_line_of(where), f"{where}{message if named else '(config): ' + message}"))
            continue
        where = _origin(origins or {}, path)
        lines.append((_line_of(where), f"{where}{_dotted(path)}: {message}"))
    # In file order, so the list reads top to bottom beside the YAML; --set problems come last.
    return [text for _, text in sorted(lines, key=lambda item: item[0])]


def _line_of(where: str) -> int:
    number = where.rstrip(": ").rpartition(":")[2]
    return int(number) if number.isdigit() else 1 << 30


def _describe_problem(model: type[BaseModel], path: Loc, errs: list[dict[str, Any]]) -> str:
    first = errs[0]
    if first["type"] == "extra_forbidden":
        return _unknown_key(model, path)
    custom = [e for e in errs if e["type"] == "value_error"]
    if custom:
        return str(custom[0]["ctx"]["error"]) if "ctx" in custom[0] else custom[0]["msg"]
    _, annotation = _field_path(model, path)
    expected = describe(annotation) if annotation is not None else first["msg"]
    if first["type"] == "missing":
        return f"required: {expected}"
    got = first.get("input")
    message = f"expected {expected}, got {_show(got)}"
    choices = [str(v) for v in typing.get_args(_unwrap(annotation))] if first["type"] == "literal_error" else []
    close = [VALUE_SYNONYMS[str(got)]] if VALUE_SYNONYMS.get(str(got)) in choices else []
    close = close or (difflib.get_close_matches(str(got), choices, n=1, cutoff=0.5) if choices else [])
    return f"{message}; did you mean '{close[0]}'?" if close else message


def _unknown_key(model: type[BaseModel], path: Loc) -> str:
    parent_path, key = path[:-1], str(path[-1])
    _, parent = _field_path(model, parent_path)
    parent = _unwrap(parent) if parent is not None else model
    allowed = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
    if not allowed:
        return "unknown key"
    guess = SYNONYMS.get(key) if SYNONYMS.get(key) in allowed else None
    guess = guess or next(iter(difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)), None)
    if guess:
        return f"unknown key; did you mean '{guess}'?"
    # A key that belongs to another section (train.max_length -> data.max_length).
    elsewhere = [
        f"{section}.{key}"
        for section, info in model.model_fields.items()
        if isinstance(_unwrap(info.annotation), type)
        and issubclass(_unwrap(info.annotation), BaseModel)
        and key in _unwrap(info.annotation).model_fields
    ]
    if elsewhere:
        return f"unknown key here; did you mean '{elsewhere[0]}'?"
    return f"unknown key; allowed: {', '.join(allowed)}"


def _field_path(model: type[BaseModel], loc: Loc) -> tuple[Loc, Any]:
    """The part of `loc` that names real fields, and the annotation found there.

    Pydantic adds union member tags and list indices to `loc`; they are not keys the user wrote.
    """
    current: Any = model
    path: list[str | int] = []
    for part in loc:
        target = _unwrap(current)
        if isinstance(target, type) and issubclass(target, BaseModel) and part in target.model_fields:
            info = target.model_fields[part]
            current = typing.Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            path.append(part)
        else:
            break
    return tuple(path), (current if path else None)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional to reach a model class (or the bare type)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def describe(annotation: Any) -> str:
    """Say in words what a field accepts: 'a positive integer', 'one of: nf4, fp4', ..."""
    constraints: list[Any] = []
    origin = typing.get_origin(annotation)
    while origin is typing.Annotated:
        annotation, *meta = typing.get_args(annotation)
        constraints.extend(_flatten(meta))
        origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        parts = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return f"{text} (or null)" if type(None) in args else text
    if origin is Literal:
        return "one of: " + ", ".join(str(v) for v in typing.get_args(annotation))
    if origin in (list, tuple):
        (item, *_) = typing.get_args(annotation) or (Any,)
        return f"a list of {_plural(describe(item))}"
    if origin in (dict, Mapping):
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping with keys " + ", ".join(annotation.model_fields)
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return _number(annotation, constraints)
    if annotation is str:
        return "a non-empty string" if any(isinstance(c, at.MinLen) for c in constraints) else "a string"
    return getattr(annotation, "__name__", str(annotation))


def _number(kind: type, constraints: list[Any]) -> str:
    noun = "integer" if kind is int else "number"
    gt = next((c.gt for c in constraints if isinstance(c, at.Gt)), None)
    ge = next((c.ge for c in constraints if isinstance(c, at.Ge)), None)
    lt = next((c.lt for c in constraints if isinstance(c, at.Lt)), None)
    if gt == 0 and lt is None:
        return f"a positive {noun}"
    if ge == 0 and lt is None:
        return f"a non-negative {noun}"
    article = "an" if noun == "integer" else "a"
    bounds = [
        f">= {ge}" if ge is not None else "",
        f"> {gt}" if gt is not None else "",
        f"< {lt}" if lt else "",
    ]
    bounds = [b for b in bounds if b]
    return f"{article} {noun} " + " and ".join(bounds) if bounds else f"{article} {noun}"


def _flatten(meta: list[Any]) -> list[Any]:
    out: list[Any] = []
    for m in meta:
        out.extend(getattr(m, "metadata", None) or [m])
    return out


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article) :] + "s"
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(path: Loc) -> str:
    return ".".join(str(p) for p in path)


def _origin(origins: Mapping[Loc, str], path: Loc) -> str:
    """'file.yaml:7: ' for the deepest part of `path` whose origin is known."""
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return f"{origins[path[:end]]}: "
    return ""
