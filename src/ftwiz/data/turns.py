"""Conversation turns from any tool's schema to ftwiz's canonical turn, with every problem on the way. Pure.

Turns arrive as OpenAI messages (`role`/`content`, assistant `tool_calls`, `tool` turns with `tool_call_id`,
content as a string or a list of parts, per-message `weight`), ShareGPT (`from`/`value`, with LLaMA-Factory's
`function_call` / `observation` turns), or LLaMA-Factory v1 (content parts typed `text` / `reasoning` /
`tool_call` holding a `value`, per-turn `loss_weight`). Reasoning rides on assistant turns as `reasoning_content`
(DeepSeek, Qwen, vLLM), `thinking` (gpt-oss, transformers) or `reasoning` parts. All become one shape:

    {"role": "system" | "user" | "assistant" | "tool", "content": str,
     "reasoning_content": str, "tool_calls": [{"type": "function", "function": {"name", "arguments": JSON}}],
     "tool_call_id": str, "name": str, "train": False}        # the last five only when present

Tool-call arguments and tool lists stay JSON *strings*: `datasets` unions struct keys across rows, so dicts would
come back with `null`s added. Rendering (data/render.py) turns them into what each chat template expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLES = {
    "system": "system",
    "developer": "system",  # OpenAI's name for system instructions since o1
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",  # Gemma's name
    "function_call": "assistant",  # ShareGPT (LLaMA-Factory): an assistant turn that calls a tool
    "tool": "tool",
    "observation": "tool",  # ShareGPT (LLaMA-Factory): the tool's result
    "function": "tool",  # OpenAI's deprecated function-calling role
    "ipython": "tool",  # Llama 3.1's name for tool results
}
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")
TEXT_PARTS = ("text", "input_text", "output_text")
REASONING_PARTS = ("reasoning", "thinking")
MEDIA_PARTS = ("image", "image_url", "input_image", "video", "video_url", "audio", "input_audio", "file")
MEDIA_HINT = "ftwiz fine-tunes text-only models: remove the media, or train a vision model with a tool that does"


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass
class _Content:
    text: str = ""
    reasoning: str = ""
    calls: list[dict[str, Any]] | None = None


def parse_turns(raw: Any, field: str, *, answer_last: bool = True) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Canonical turns and every problem of a list of turns. `answer_last`: the list must end with an answer
    that is trained (a whole conversation); off for the prompt part of a preference pair."""
    if not isinstance(raw, list) or not raw:
        return [], [Problem(field, "expected a non-empty list of turns")]
    turns: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        turn, found = parse_turn(item, f"{field}[{i}]")
        problems += found
        if turn is not None:
            turns.append(turn)
    if problems:
        return turns, problems
    problems += _check_order(turns, field)
    if not problems and answer_last:
        if turns[-1]["role"] != "assistant":
            problems.append(Problem(field, "no assistant turn at the end: nothing to train on"))
        elif all(t.get("train") is False for t in turns if t["role"] == "assistant"):
            problems.append(Problem(field, "every assistant turn has weight 0: nothing to train on"))
    return turns, problems


def parse_turn(item: Any, where: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """One turn in canonical form (None when unusable) and its problems."""
    if not isinstance(item, Mapping):
        return None, [Problem(where, "expected an object with 'role' and 'content' (or 'from' and 'value')")]
    role_key = "role" if "role" in item else "from"
    raw_role = item.get(role_key)
    role = ROLES.get(str(raw_role).lower()) if raw_role is not None else None
    if role is None:
        allowed = ", ".join(sorted(ROLES))
        return None, [Problem(f"{where}.{role_key}", f"unknown role {raw_role!r}; expected one of {allowed}")]
    content_key = "content" if "content" in item or "value" not in item else "value"
    problems: list[Problem] = []
    if str(raw_role).lower() == "function_call":  # ShareGPT: the value is the call itself
        content = _Content(calls=_calls_from_json(item.get(content_key), f"{where}.{content_key}", problems))
    else:
        content = _content(item.get(content_key), f"{where}.{content_key}", problems)
    turn: dict[str, Any] = {"role": role, "content": content.text}
    if role == "assistant":
        _assistant_extras(item, content, turn, where, problems)
    elif role == "tool":
        turn.update({k: item[k] for k in ("tool_call_id", "name") if isinstance(item.get(k), str)})
    problems += _emptiness(turn, item.get(content_key), f"{where}.{content_key}")
    return turn, problems


def _content(value: Any, where: str, problems: list[Problem]) -> _Content:
    """A string, or a list of parts (OpenAI: {type: text, text}; LLaMA-Factory v1: {type, value}), flattened:
    every chat template expects a string, and several render a list as its Python repr or raise."""
    if value is None:
        return _Content()
    if isinstance(value, str):
        return _Content(text=value)
    if not isinstance(value, list):
        problems.append(Problem(where, f"expected text or a list of parts, got {type(value).__name__}"))
        return _Content()
    out = _Content()
    texts, reasoning = [], []
    for j, part in enumerate(value):
        at = f"{where}[{j}]"
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type", "text") if isinstance(part, Mapping) else None
        body = part.get("text", part.get("value")) if isinstance(part, Mapping) else None
        if kind in MEDIA_PARTS:
            problems.append(Problem(at, f"a {kind} part: {MEDIA_HINT}"))
        elif kind in TEXT_PARTS and isinstance(body, str):
            texts.append(body)
        elif kind in REASONING_PARTS and isinstance(body, str):
            reasoning.append(body)
        elif kind == "tool_call":
            out.calls = (out.calls or []) + _calls_from_json(body, at, problems)
        else:
            problems.append(Problem(at, f"unknown content part {kind!r}; expected text, reasoning or tool_call"))
    out.text, out.reasoning = "".join(texts), "\n".join(reasoning)
    return out


def _assistant_extras(
    item: Mapping[str, Any], content: _Content, turn: dict[str, Any], where: str, problems: list[Problem]
) -> None:
    reasoning = content.reasoning or next((item[k] for k in REASONING_KEYS if isinstance(item.get(k), str)), "")
    if reasoning.strip():
        turn["reasoning_content"] = reasoning
    calls = list(content.calls or [])
    raw_calls = item.get("tool_calls")
    if raw_calls is not None:
        if isinstance(raw_calls, list):
            calls += [c for j, raw in enumerate(raw_calls) if (c := _call(raw, f"{where}.tool_calls[{j}]", problems))]
        else:
            problems.append(Problem(f"{where}.tool_calls", "expected a list of tool calls"))
    if isinstance(item.get("function_call"), Mapping):  # OpenAI's deprecated single call
        calls += [c for c in [_call(item["function_call"], f"{where}.function_call", problems)] if c]
    if calls:
        turn["tool_calls"] = calls
    weight = item.get("weight", item.get("loss_weight"))
    if weight is not None and not isinstance(weight, bool) and isinstance(weight, (int, float)) and weight == 0:
        turn["train"] = False
    elif weight is not None and not isinstance(weight, (int, float)):
        problems.append(Problem(f"{where}.weight", f"expected 0 (not trained) or 1, got {weight!r}"))


def _call(raw: Any, where: str, problems: list[Problem]) -> dict[str, Any] | None:
    """One tool call, OpenAI's {id, type, function: {name, arguments}} or a bare {name, arguments}."""
    if not isinstance(raw, Mapping):
        problems.append(Problem(where, "expected a tool call object with a name and arguments"))
        return None
    function = raw.get("function") if isinstance(raw.get("function"), Mapping) else raw
    name, arguments = function.get("name"), function.get("arguments", function.get("parameters", {}))
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(f"{where}.name", "a tool call needs the name of the tool"))
        return None
    if isinstance(arguments, str):
        try:
            json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"{where}.arguments", f"not JSON ({exc.msg} at column {exc.pos + 1})"))
            return None
        encoded = arguments or "{}"
    else:
        encoded = json.dumps(arguments, ensure_ascii=False)
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": encoded}}
    if isinstance(raw.get("id"), str):
        call["id"] = raw["id"]
    return call


def _calls_from_json(value: Any, where: str, problems: list[Problem]) -> list[dict[str, Any]]:
    """A call written as JSON text (ShareGPT's function_call turn, v1's tool_call part): one call or a list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"a tool call that is not JSON ({exc.msg} at column {exc.pos + 1})"))
            return []
    items = value if isinstance(value, list) else [value]
    return [
        c for j, raw in enumerate(items) if (c := _call(raw, where if len(items) == 1 else f"{where}[{j}]", problems))
    ]


def _emptiness(turn: dict[str, Any], raw: Any, where: str) -> list[Problem]:
    role, text = turn["role"], turn["content"]
    if raw is not None and not isinstance(raw, (str, list)):
        return []  # already reported as the wrong type
    if role == "assistant" and not text.strip() and not turn.get("tool_calls"):
        return [Problem(where, "empty assistant turn: nothing to learn from")]
    if role == "user" and not text.strip():
        return [Problem(where, "empty user turn" if raw is not None else "missing text")]
    if role == "system" and raw is None:
        return [Problem(where, "missing text")]
    return []


def _check_order(turns: list[dict[str, Any]], field: str) -> list[Problem]:
    """System first, users and assistants alternate, a tool result only after the call it answers."""
    problems: list[Problem] = []
    previous: str | None = None
    calls_open = False
    for i, turn in enumerate(turns):
        role, where = turn["role"], f"{field}[{i}].role"
        if role == "system":
            if any(t["role"] != "system" for t in turns[:i]):
                problems.append(Problem(where, "a system turn only at the start"))
            continue
        if role == "tool":
            if not calls_open:
                problems.append(Problem(where, "a tool result with no tool call before it"))
        elif role == previous:
            problems.append(Problem(where, f"two {role} turns in a row: turns must alternate"))
        calls_open = bool(turn.get("tool_calls")) or (role == "tool" and calls_open)
        previous = role
    return problems


def tools_json(value: Any, problems: list[Problem]) -> str | None:
    """A row's tool list as one JSON string (None when the row has none): a list of schemas, a JSON string of
    one, or a single schema."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            problems.append(Problem("tools", f"not JSON ({exc.msg} at column {exc.pos + 1})"))
            return None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        problems.append(Problem("tools", "expected a list of tool schemas (objects with a name and parameters)"))
        return None
    return json.dumps(value, ensure_ascii=False) if value else None
