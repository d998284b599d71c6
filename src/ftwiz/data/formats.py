"""Dataset formats: detect them from a row's keys, check every row, normalise to canonical forms. Pure.

Canonical forms (what the trainers consume):
- conversations: {"messages": [turn...], "tools": JSON} — from `messages` (OpenAI style, with tool calls, tool
  results, reasoning and content parts), ShareGPT `conversations` ({from, value}, LLaMA-Factory's function_call /
  observation turns and `tools` / `system` columns), or Alpaca (instruction / input / output, optional `system`
  and `history`); turns as in ftwiz.data.turns, `tools` only when the row has some;
- prompt/completion: {"prompt", "completion"} — also from question/answer and input/output;
- text: {"text"} for continued pretraining;
- preference: {"prompt", "chosen", "rejected"} (strings or turn lists) — also LLaMA-Factory's ranking rows
  (conversations + a chosen and a rejected turn) and its v1 `chosen_messages` / `rejected_messages`;
- unpaired_preference: {"prompt", "completion", "label"}, label true for a desirable answer, false for an
  undesirable one (KTO's own format: thumbs up/down feedback). A `label` beside conversations, alpaca or
  prompt/completion is such feedback — never SFT data whose label is dropped.
Rows that carry images, audio or video are refused: ftwiz trains text-only models and would drop them silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ftwiz.data.turns import MEDIA_HINT, Problem, parse_turns, tools_json

__all__ = ["FORMATS", "Problem", "detect", "methods_for", "normalize", "parse", "row_text", "validate"]

FORMATS = ("messages", "sharegpt", "alpaca", "prompt_completion", "text", "preference", "unpaired_preference")
PAIRS = (("prompt", "completion"), ("question", "answer"), ("input", "output"))
MEDIA_KEYS = ("images", "image", "videos", "video", "audios", "audio")
LABELS = {"true": True, "false": False, "1": True, "0": False}  # CSV and hub exports write them as text


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
    if {"chosen", "rejected"} <= keys or {"chosen_messages", "rejected_messages"} <= keys:
        return "preference"
    if "label" in keys and _base_format(keys) is not None:
        return "unpaired_preference"
    return _base_format(keys)


def _base_format(keys: set[str]) -> str | None:
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if any({a, b} <= keys for a, b in PAIRS):
        return "prompt_completion"
    if "text" in keys and "label" not in keys:  # text + label is a classification set, not feedback
        return "text"
    return None


def validate(row: Mapping[str, Any], fmt: str) -> list[Problem]:
    """Every problem of one row in format `fmt` (empty when the row is good)."""
    return parse(row, fmt)[1]


def normalize(row: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """A valid row in its canonical form."""
    canonical, problems = parse(row, fmt)
    if canonical is None:
        raise ValueError(f"not a valid {fmt} row: {problems[0].field}: {problems[0].message}")
    return canonical


def parse(row: Mapping[str, Any], fmt: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The canonical row (None when it has problems) and every problem of one row in format `fmt`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    problems = _media(row)
    canonical, found = _PARSERS[fmt](row)
    problems += found
    if canonical is not None and not problems and fmt not in ("text", "prompt_completion"):
        tools = tools_json(row.get("tools"), problems)
        if tools is not None:
            canonical["tools"] = tools
    return (None if problems else canonical), problems


def _media(row: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for key in MEDIA_KEYS:
        value = row.get(key)
        if value:
            count = len(value) if isinstance(value, list) else 1
            problems.append(Problem(key, f"this row carries {key} ({count}): {MEDIA_HINT}"))
    return problems


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _system_first(turns: list[dict[str, Any]], system: Any) -> list[dict[str, Any]]:
    """A `system` column (LLaMA-Factory's sharegpt and alpaca) as the first turn, unless one is there."""
    if _text(system) and not (turns and turns[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *turns]
    return turns


def _conversation(row: Mapping[str, Any], field: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    turns, problems = parse_turns(row.get(field), field)
    return ({"messages": _system_first(turns, row.get("system"))} if not problems else None), problems


def _alpaca(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    problems = [Problem(f, "missing or empty") for f in ("instruction", "output") if not _text(row.get(f))]
    if row.get("input") is not None and not isinstance(row.get("input"), str):
        problems.append(Problem("input", "expected text (empty is fine)"))
    history = row.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, list) and len(h) == 2 for h in history):
        problems.append(Problem("history", "expected a list of [instruction, answer] pairs"))
    if problems:
        return None, problems
    prompt = row["instruction"] if not row.get("input") else f"{row['instruction']}\n\n{row['input']}"
    turns = [
        {"role": r, "content": str(t)} for pair in history for r, t in zip(("user", "assistant"), pair, strict=True)
    ]
    turns += [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    return {"messages": _system_first(turns, row.get("system"))}, []


def _prompt_completion(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    a, b = next(((a, b) for a, b in PAIRS if a in row or b in row), PAIRS[0])
    if isinstance(row.get(a), list) or isinstance(row.get(b), list):  # TRL's conversational prompt-completion
        prompt, problems = parse_turns(row.get(a), a, answer_last=False)
        answer, more = parse_turns(row.get(b), b)
        return ({"messages": prompt + answer} if not problems + more else None), problems + more
    problems = [Problem(f, "missing or empty") for f in (a, b) if not _text(row.get(f))]
    return (None if problems else {"prompt": row[a], "completion": row[b]}), problems


def _plain_text(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    return ({"text": row["text"]}, []) if _text(row.get("text")) else (None, [Problem("text", "missing or empty")])


def _side(value: Any, field: str, *, answer: bool) -> tuple[Any, list[Problem]]:
    """One side of a preference row: a string, a list of turns, or a single turn object (LLaMA-Factory ranking)."""
    if isinstance(value, str):
        return value, ([] if value.strip() else [Problem(field, "missing or empty")])
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        return None, [Problem(field, "missing or empty")]
    turns, problems = parse_turns(value, field, answer_last=answer)
    return [{k: v for k, v in t.items() if k != "train"} for t in turns], problems


def _preference(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    if "chosen_messages" in row:  # LLaMA-Factory v1: two whole conversations that share their prompt
        return _preference_from_conversations(row)
    field = next((f for f in ("prompt", "conversations", "messages") if f in row), "prompt")
    prompt, problems = (
        (row.get(field) or "", []) if isinstance(row.get(field, ""), str) else _side(row[field], field, answer=False)
    )
    chosen, more = _side(row.get("chosen"), "chosen", answer=True)
    rejected, most = _side(row.get("rejected"), "rejected", answer=True)
    problems += more + most
    if not problems and chosen == rejected:
        problems.append(Problem("rejected", "identical to chosen: no preference to learn"))
    if problems:
        return None, problems
    prompt, chosen, rejected = _one_shape(
        _system_first(prompt, row.get("system")) if isinstance(prompt, list) else prompt, chosen, rejected
    )
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}, []


def _preference_from_conversations(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    chosen, problems = _side(row.get("chosen_messages"), "chosen_messages", answer=True)
    rejected, more = _side(row.get("rejected_messages"), "rejected_messages", answer=True)
    problems += more
    if problems:
        return None, problems
    shared = 0
    while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
        shared += 1
    if chosen == rejected:
        return None, [Problem("rejected_messages", "identical to chosen_messages: no preference to learn")]
    if shared == 0 or chosen[:shared] != rejected[:shared]:
        return None, [Problem("rejected_messages", "shares no prompt with chosen_messages: not a pair")]
    return {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}, []


def _unpaired(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """KTO feedback: the last answer of a conversation (or a completion) judged desirable or not."""
    base = _base_format(set(row) - {"label"}) or "prompt_completion"
    label = row.get("label")
    label = LABELS.get(label.strip().lower(), label) if isinstance(label, str) else label
    problems = []
    if not isinstance(label, bool) and label not in (0, 1):
        problems.append(Problem("label", f"expected true (desirable) or false (undesirable), got {label!r}"))
    if base == "prompt_completion" and any(isinstance(row.get(f), list) for f in ("prompt", "completion")):
        prompt, found = _side(row.get("prompt"), "prompt", answer=False)
        completion, more = _side(row.get("completion"), "completion", answer=True)
        found += more
    elif base == "prompt_completion":
        found = [Problem(f, "missing or empty") for f in ("prompt", "completion") if not _text(row.get(f))]
        prompt, completion = row.get("prompt"), row.get("completion")
    else:
        canonical, found = _PARSERS[base](row)
        turns = canonical["messages"] if canonical else []
        prompt, completion = turns[:-1], [{k: v for k, v in t.items() if k != "train"} for t in turns[-1:]]
    problems += found
    if problems:
        return None, problems
    prompt, completion = _one_shape(prompt, completion)
    return {"prompt": prompt, "completion": completion, "label": bool(label)}, []


_PARSERS = {
    "messages": lambda row: _conversation(row, "messages"),
    "sharegpt": lambda row: _conversation(row, "conversations"),
    "alpaca": _alpaca,
    "prompt_completion": _prompt_completion,
    "text": _plain_text,
    "preference": _preference,
    "unpaired_preference": _unpaired,
}


def _one_shape(prompt: Any, *answers: Any) -> tuple[Any, ...]:
    """One shape for TRL: all conversational when any part is a message list (a bare string becomes a user
    prompt or an assistant answer), else all strings."""
    if not any(isinstance(x, list) for x in (prompt, *answers)):
        return (prompt, *answers)
    as_turns = lambda x, role: x if isinstance(x, list) else [{"role": role, "content": x}]  # noqa: E731
    return (as_turns(prompt, "user") if prompt else [], *(as_turns(a, "assistant") for a in answers))


def _turn_text(turn: Mapping[str, Any]) -> str:
    calls = turn.get("tool_calls") or []
    return "\n".join(
        [turn.get("reasoning_content") or "", turn.get("content") or ""]
        + [f"{c['function']['name']} {c['function']['arguments']}" for c in calls]
    ).strip("\n")


def row_text(row: Mapping[str, Any]) -> str:
    """All the text of a canonical row (for length statistics without a tokenizer)."""
    if "messages" in row:
        return "\n".join(_turn_text(m) for m in row["messages"]) + ("\n" + row["tools"] if row.get("tools") else "")
    parts = [row.get(k) for k in ("prompt", "completion", "text", "chosen")]
    return "\n".join(p if isinstance(p, str) else "\n".join(_turn_text(m) for m in p or []) for p in parts if p)
