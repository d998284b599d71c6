"""Canonical conversation rows made ready for one chat template, and the rows a template would render wrongly.

Canonical rows (coord/canonical.md) carry tool-call `arguments` and the row's `tools` as JSON strings, and after a
round trip through Arrow every turn has every optional key, set to None. Real templates disagree on what they
want, and a wrong guess renders silently wrong text rather than failing:

- None-valued keys must go: Llama 3.1 and gpt-oss test `"tool_calls" in message`, so `tool_calls: None` takes the
  tool-call branch of a plain answer; gpt-oss's `"thinking" in message` renders an empty analysis block.
- `arguments` go to templates that `| tojson` them (Llama 3.1, gpt-oss, TRL's DeepSeek-V3 training template) as
  objects, else they are encoded twice (`"{\\"city\\": ..."`); templates that concatenate them (DeepSeek-V3's own
  template) need the string; Qwen3 tests `arguments is string` and takes either (the string is kept: it is the
  data as written).
- Bare tool schemas (`{name, description, parameters}`) are wrapped as `{"type": "function", "function": ...}`,
  the shape transformers' `get_json_schema` gives every template (gpt-oss reads `tool.function` and fails on bare
  ones; Qwen3 and Llama 3.1 print the list as given, so wrapping shows them what their models were trained on).
- Reasoning is passed under the name the template reads (`reasoning_content`, gpt-oss's `thinking`).

What a template can render is read from its text (comments removed), since the only alternative — rendering probe
conversations — costs a render per feature and still needs to know what to look for. The tests are deliberately
plain: a template that never mentions `tools` cannot show a tool list, one without `tool_calls` cannot show calls,
one without a reasoning field drops the reasoning. A row that needs what its template lacks is that row's problem,
with the fix, instead of training on text that silently lost the tools, calls or reasoning.
Pure Python (no transformers): `ftwiz data check` imports it without a tokenizer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_TOOLS = re.compile(r"\btools\b")  # the `tools` variable (not builtin_tools, custom_tools, tool_calls)
_TOOL_ROLE = re.compile(r"""['"](?:tool|ipython)['"]""")
_GENERIC_ROLE = re.compile(r"""message(?:\.role|\[['"]role['"]\])\s*\+|\+\s*message(?:\.role|\[['"]role['"]\])""")
_THINKING = re.compile(r"""message(?:\.thinking\b|\[['"]thinking['"]\])|['"]thinking['"]\s+in\s+message""")
_REASONING = re.compile(r"""message(?:\.reasoning\b|\[['"]reasoning['"]\])""")
_ARGS_EITHER = re.compile(r"""arguments(?:['"]\])?\s+is\s+(?:not\s+)?string""")
_ARGS_OBJECT = re.compile(r"""arguments(?:['"]\])?\s*(?:\|\s*(?:tojson|items|dictsort)|is\s+mapping)""")
_ARGS_CONCAT = re.compile(r"""arguments(?:['"]\])?\s*\+""")
_CALL_LOOP = re.compile(r"""for\s+\w+\s+in\s+message(?:\.tool_calls|\[['"]tool_calls['"]\])""")

FIX_TEMPLATE = "use a template that renders it (data.chat_template: chatml does)"


@dataclass(frozen=True)
class TemplateFeatures:
    """What a chat template can render, read from its text."""

    tool_list: bool  # shows the row's tool schemas
    tool_calls: bool  # shows assistant tool calls
    tool_role: bool  # shows tool results (a `tool`/`ipython` role, or every role generically)
    reasoning: str | None  # the field it reads reasoning from, None when it shows none
    arguments: str  # "object": pass parsed arguments; "string": the JSON text (it is concatenated); "either"
    one_call_per_turn: bool  # reads tool_calls[0] and never loops over the calls


@lru_cache(maxsize=64)
def features(template: str) -> TemplateFeatures:
    """The features of one template text (cached: the worker asks once per row)."""
    text = _COMMENT.sub("", template)
    if "reasoning_content" in text:
        reasoning: str | None = "reasoning_content"
    elif _THINKING.search(text):
        reasoning = "thinking"
    elif _REASONING.search(text):
        reasoning = "reasoning"
    else:
        reasoning = None
    if _ARGS_EITHER.search(text):
        arguments = "either"
    elif _ARGS_CONCAT.search(text) and not _ARGS_OBJECT.search(text):
        arguments = "string"
    else:  # `| tojson`, `is mapping`, or read into a variable: the object transformers documents
        arguments = "object"
    return TemplateFeatures(
        tool_list=bool(_TOOLS.search(text)),
        tool_calls="tool_calls" in text,
        tool_role=bool(_TOOL_ROLE.search(text) or _GENERIC_ROLE.search(text)),
        reasoning=reasoning,
        arguments=arguments,
        one_call_per_turn="tool_calls[0]" in text and not _CALL_LOOP.search(text),
    )


Problem = tuple[str | None, str]  # (field, message), as data check reports them


class Prepared(NamedTuple):
    messages: list[dict[str, Any]]  # one per canonical turn, same order: ready for the template
    tools: list[dict[str, Any]] | None
    problems: list[Problem]


def prepare(messages: list[dict[str, Any]], tools: Any, template: str) -> Prepared:
    """Canonical turns and tools as `template` wants them, and what it could not render faithfully.

    `train` flags are removed (the template never sees them; masking reads them from the canonical turns)."""
    feats = features(template)
    problems: list[Problem] = []
    schemas = _tools(tools, problems)
    turns = [_turn(i, m, feats, problems) for i, m in enumerate(messages)]
    if schemas and not feats.tool_list:
        problems.append(
            (
                "tools",
                f"the chat template renders no tool list, so the model would never see the tools: "
                f"{FIX_TEMPLATE}, or drop the tools column",
            )
        )
    problems += _unrendered(turns, feats)
    return Prepared(turns, schemas, problems)


def _drop_none(value: Any) -> Any:
    """Arrow fills every missing struct key with None; templates test for presence, so absent is the truth."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _tools(tools: Any, problems: list[Problem]) -> list[dict[str, Any]] | None:
    """The row's tool schemas as a list of wrapped schemas, or None (an empty list is none: Llama 3.1 tests
    `tools is not none` and would announce an empty tool environment)."""
    if isinstance(tools, str):
        try:
            tools = json.loads(tools) if tools.strip() else None
        except json.JSONDecodeError as exc:
            problems.append(("tools", f"not valid JSON ({exc.msg} at column {exc.pos + 1})"))
            return None
    if not tools:
        return None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        problems.append(("tools", "expected a list of tool schemas (JSON objects)"))
        return None
    return [_wrap(_drop_none(t)) for t in tools]


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    if "function" in schema or "name" not in schema:
        return schema
    return {"type": "function", "function": schema}


def _turn(i: int, message: dict[str, Any], feats: TemplateFeatures, problems: list[Problem]) -> dict[str, Any]:
    """One turn for the template: no None keys, no `train` flag, content a string, reasoning under the
    template's name, arguments as the template renders them."""
    turn = _drop_none({k: v for k, v in message.items() if k != "train"})
    turn["content"] = turn.get("content") or ""  # DeepSeek-V3 concatenates content, even on tool-call turns
    reasoning = next((turn.pop(k) for k in ("reasoning_content", "thinking", "reasoning") if k in turn), None)
    for k in ("reasoning_content", "thinking", "reasoning"):
        turn.pop(k, None)
    if reasoning:  # an empty string is no reasoning (gpt-oss would render an empty analysis block)
        turn[feats.reasoning or "reasoning_content"] = reasoning
    if "tool_calls" in turn:
        if turn["tool_calls"]:
            turn["tool_calls"] = [_call(i, k, c, feats, problems) for k, c in enumerate(turn["tool_calls"])]
        else:
            del turn["tool_calls"]  # an empty list still takes Llama 3.1's and gpt-oss's tool-call branch
    return turn


def _call(i: int, k: int, call: dict[str, Any], feats: TemplateFeatures, problems: list[Problem]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str) and feats.arguments == "object":
        try:
            function["arguments"] = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            where = f"messages[{i}].tool_calls[{k}].function.arguments"
            problems.append((where, f"not valid JSON ({exc.msg} at column {exc.pos + 1})"))
    elif not isinstance(arguments, str) and feats.arguments == "string":
        function["arguments"] = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {**call, "type": call.get("type") or "function", "function": function}


def _unrendered(turns: list[dict[str, Any]], feats: TemplateFeatures) -> list[Problem]:
    """Problems for the parts of these turns the template would drop without a word."""
    problems: list[Problem] = []
    calls = [i for i, t in enumerate(turns) if t.get("tool_calls")]
    if calls and not feats.tool_calls:
        problems.append(
            (
                f"messages[{calls[0]}].tool_calls",
                f"the chat template renders no tool calls, so training would drop them: {FIX_TEMPLATE}",
            )
        )
    results = [i for i, t in enumerate(turns) if t.get("role") == "tool"]
    if results and not feats.tool_role:
        problems.append(
            (
                f"messages[{results[0]}].role",
                f"the chat template renders no tool turns, so the tool results would be dropped: {FIX_TEMPLATE}",
            )
        )
    thoughts = [i for i, t in enumerate(turns) if any(k in t for k in ("reasoning_content", "thinking", "reasoning"))]
    if thoughts and feats.reasoning is None:
        problems.append(
            (
                f"messages[{thoughts[0]}].reasoning_content",
                f"the chat template renders no reasoning, so it would "
                f"be dropped: {FIX_TEMPLATE}, or remove the reasoning from the data",
            )
        )
    if feats.one_call_per_turn and feats.tool_calls:
        parallel = [i for i in calls if len(turns[i]["tool_calls"]) > 1]
        if parallel:
            n = len(turns[parallel[0]]["tool_calls"])
            problems.append(
                (
                    f"messages[{parallel[0]}].tool_calls",
                    f"{n} parallel tool calls in one turn, and the chat "
                    "template renders one call per assistant turn: split them into one turn per call "
                    "(each followed by its tool result)",
                )
            )
    return problems
