"""Dataset formats: detect them from a row's keys, check every row, normalise to canonical forms. Pure.

Canonical forms (what TRL consumes):
- conversations: {"messages": [{"role", "content"}...]} — from `messages` (OpenAI style), ShareGPT
  `conversations` ({from, value} with human/gpt/system), or Alpaca (instruction / input / output);
- prompt/completion: {"prompt", "completion"} — also from question/answer and input/output;
- text: {"text"} for continued pretraining;
- preference: {"prompt", "chosen", "rejected"} (strings or message lists);
- unpaired_preference: {"prompt", "completion", "label"}, label true for a desirable answer, false for an
  undesirable one (KTO's own format: thumbs up/down feedback, no pairs needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMATS = ("messages", "sharegpt", "alpaca", "prompt_completion", "text", "preference", "unpaired_preference")
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
}
PAIRS = (("prompt", "completion"), ("question", "answer"), ("input", "output"))


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def methods_for(fmt: str) -> tuple[str, ...]:
    """The methods that train on rows of `fmt`, the usual one first."""
    if fmt == "preference":
        return ("dpo", "orpo", "kto")
    if fmt == "unpaired_preference":
        return ("kto",)  # DPO and ORPO compare two answers to one prompt
    return ("sft", "cpt")


def detect(row: Mapping[str, Any]) -> str | None:
    """The format a row's keys say, or None."""
    keys = set(row)
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if {"prompt", "completion", "label"} <= keys:
        return "unpaired_preference"
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if any({a, b} <= keys for a, b in PAIRS):
        return "prompt_completion"
    if "text" in keys:
        return "text"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_turns(turns: Any, field: str, role_key: str, content_key: str, roles: Mapping[str, str]) -> list[Problem]:
    if not isinstance(turns, list) or not turns:
        return [Problem(field, "expected a non-empty list of turns")]
    problems: list[Problem] = []
    previous = None
    for i, turn in enumerate(turns):
        where = f"{field}[{i}]"
        if not isinstance(turn, Mapping):
            problems.append(Problem(where, f"expected an object with '{role_key}' and '{content_key}'"))
            continue
        raw_role = turn.get(role_key)
        role = roles.get(str(raw_role).lower()) if raw_role is not None else None
        if role is None:
            allowed = ", ".join(sorted(set(roles)))
            problems.append(Problem(f"{where}.{role_key}", f"unknown role {raw_role!r}; expected one of {allowed}"))
            continue
        content = turn.get(content_key)
        if not isinstance(content, str):
            problems.append(Problem(f"{where}.{content_key}", "missing text"))
        elif not content.strip() and role == "assistant":
            problems.append(Problem(f"{where}.{content_key}", "empty assistant turn: nothing to learn from"))
        elif not content.strip() and role == "user":
            problems.append(Problem(f"{where}.{content_key}", "empty user turn"))
        if role == "system" and i > 0:
            problems.append(Problem(f"{where}.{role_key}", "a system turn only at the start"))
        elif role != "system" and role == previous:
            problems.append(Problem(f"{where}.{role_key}", f"two {role} turns in a row: turns must alternate"))
        previous = role if role != "system" else previous
    if not problems and previous != "assistant":
        problems.append(Problem(field, "no assistant turn at the end: nothing to train on"))
    return problems


def validate(row: Mapping[str, Any], fmt: str) -> list[Problem]:
    """Every problem of one row in format `fmt` (empty when the row is good)."""
    if fmt == "messages":
        return _check_turns(row.get("messages"), "messages", "role", "content", {r: r for r in ROLES})
    if fmt == "sharegpt":
        return _check_turns(row.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES)
    if fmt == "alpaca":
        problems = [Problem(f, "missing or empty") for f in ("instruction", "output") if not _text(row.get(f))]
        if row.get("input") is not None and not isinstance(row.get("input"), str):
            problems.append(Problem("input", "expected text (empty is fine)"))
        return problems
    if fmt == "prompt_completion":
        a, b = next(((a, b) for a, b in PAIRS if a in row or b in row), PAIRS[0])
        return [Problem(f, "missing or empty") for f in (a, b) if not _text(row.get(f))]
    if fmt == "text":
        return [] if _text(row.get("text")) else [Problem("text", "missing or empty")]
    if fmt == "preference":
        problems = []
        for f in ("chosen", "rejected"):
            value = row.get(f)
            if not (_text(value) or (isinstance(value, list) and value)):
                problems.append(Problem(f, "missing or empty"))
        if not problems and row.get("chosen") == row.get("rejected"):
            problems.append(Problem("rejected", "identical to chosen: no preference to learn"))
        return problems
    if fmt == "unpaired_preference":
        problems = [
            Problem(f, "missing or empty")
            for f in ("prompt", "completion")
            if not (_text(row.get(f)) or (isinstance(row.get(f), list) and row.get(f)))
        ]
        if not isinstance(label := row.get("label"), bool):
            problems.append(Problem("label", f"expected true (desirable) or false (undesirable), got {label!r}"))
        return problems
    raise ValueError(f"unknown format {fmt!r}")


def normalize(row: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """A valid row in its canonical form."""
    if fmt == "messages":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    if fmt == "sharegpt":
        return {
            "messages": [
                {"role": SHAREGPT_ROLES[str(t["from"]).lower()], "content": t["value"]} for t in row["conversations"]
            ]
        }
    if fmt == "alpaca":
        prompt = row["instruction"] if not row.get("input") else f"{row['instruction']}\n\n{row['input']}"
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]}
    if fmt == "prompt_completion":
        a, b = next((a, b) for a, b in PAIRS if a in row and b in row)
        return {"prompt": row[a], "completion": row[b]}
    if fmt == "text":
        return {"text": row["text"]}
    if fmt == "preference":
        prompt, chosen, rejected = _one_shape(row.get("prompt", ""), row["chosen"], row["rejected"])
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    if fmt == "unpaired_preference":
        prompt, completion = _one_shape(row["prompt"], row["completion"])
        return {"prompt": prompt, "completion": completion, "label": row["label"]}
    raise ValueError(f"unknown format {fmt!r}")


def _one_shape(prompt: Any, *answers: Any) -> tuple[Any, ...]:
    """One shape for TRL: all conversational when any part is a message list (a bare string becomes a user
    prompt or an assistant answer), else all strings."""
    if not any(isinstance(x, list) for x in (prompt, *answers)):
        return (prompt, *answers)
    as_turns = lambda x, role: x if isinstance(x, list) else [{"role": role, "content": x}]  # noqa: E731
    return (as_turns(prompt, "user") if prompt else [], *(as_turns(a, "assistant") for a in answers))


def row_text(row: Mapping[str, Any]) -> str:
    """All the text of a canonical row (for length statistics without a tokenizer)."""
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"])
    parts = [row.get(k) for k in ("prompt", "completion", "text", "chosen")]
    return "\n".join(p if isinstance(p, str) else "\n".join(m.get("content", "") for m in p or []) for p in parts if p)
