"""Which tokens of a conversation carry the loss: one path for the worker, `ftwiz data check --tokenizer` and the
wizard's preview, so that a file that passes the check trains the same tokens it was checked with.

A row is rendered with its tools (`tools=`) by the template that trains, chosen once per template:

1. the tokenizer's own template when it has `{% generation %}` markers (ftwiz's fallback templates have them);
2. else TRL's training variant when `trl.chat_template_utils.get_training_chat_template` has one (TRL 1.16: Qwen
   2.5/3, gpt-oss, DeepSeek-V3 and R1-Distill, Gemma 1-3, Llama 3 (not 3.1), Phi-3, GLM-4-MoE, ...) - the
   template TRL's own `assistant_only_loss` would swap in. Those variants render as their originals do except
   where the original is not prefix-preserving: TRL's Qwen3 variant shows every assistant turn in the form the
   model generates it (`<think>...</think>` included, empty when there is no reasoning), where the original drops
   the reasoning of turns before the last user turn;
3. else ftwiz's prefix masking, for templates TRL cannot patch (Llama 3.1, Mistral, Zephyr, SmolLM2 ...):

       prompt  = render(messages[:i], add_generation_prompt=True)     # everything before answer i
       through = render(messages[:i + 1])                             # ... and answer i with its end-of-turn

   Answer i is the text between the two. This needs a prefix-preserving template (each render a prefix of the
   whole), which is checked; no library masks templates without markers (transformers' mask needs them).

The trained spans are the assistant turns only (content, tool calls, the reasoning the template shows, the
end-of-turn), never tool results, system or user text; turns marked `train: False` are left out, and trailing
whitespace after the end-of-turn (the separator before the next turn, never generated) is not trained. Tokens
whose characters overlap a trained span carry the loss. A row the template cannot render - it raises, or it
would silently drop the row's tools, calls or reasoning (ftwiz.data.render) - is that row's `RowTemplateError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ftwiz.data.render import prepare
from ftwiz.errors import BadInput

MARKERS_HINT = (
    "Set data.chat_template to one of ftwiz's templates (chatml, llama-3, mistral-instruct, alpaca, phi), or "
    "data.train_on: all to train on every token."
)

Span = tuple[int, int]

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")  # TRL's test, without importing TRL


class RowTemplateError(BadInput):
    """One row the chat template cannot render, or would render without part of it: that row's problem, which
    callers report at the row's file:line (data check) or count under data.on_error (the worker)."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


@dataclass(frozen=True)
class MaskingPlan:
    """How one chat template is masked: the template text that renders, and which way."""

    template: str
    how: str  # "markers" (its own), "trl" (TRL's training variant) or "prefix" (ftwiz's prefix masking)


def has_generation_markers(template: Any) -> bool:
    if isinstance(template, dict):  # a template shipped as named variants
        template = template.get("default", "")
    return bool(template) and _GENERATION.search(template) is not None


_PLANS: dict[str, MaskingPlan] = {}


def masking_plan(tokenizer: Any, *, with_tools: bool = False) -> MaskingPlan:
    """The plan for the template this tokenizer renders with (its `tool_use` variant for rows with tools, as
    transformers picks it). Cached per template text: TRL's check renders probe conversations."""
    template = tokenizer.get_chat_template(None, [{}] if with_tools else None)
    if template not in _PLANS:
        _PLANS[template] = _plan(tokenizer, template)
    return _PLANS[template]


def _plan(tokenizer: Any, template: str) -> MaskingPlan:
    if has_generation_markers(template):
        return MaskingPlan(template, "markers")
    own = tokenizer.chat_template
    if (own.get("default") if isinstance(own, dict) else own) != template:  # a named variant TRL never knows
        return MaskingPlan(template, "prefix")
    from jinja2 import TemplateError
    from trl.chat_template_utils import get_training_chat_template

    try:
        training = get_training_chat_template(tokenizer)
    except (ValueError, TemplateError):  # "patching is not supported for this template"
        return MaskingPlan(template, "prefix")
    return MaskingPlan(training, "trl") if training else MaskingPlan(template, "markers")


def trl_can_mask(tokenizer: Any) -> bool:
    """Whether the template has markers or TRL ships a training variant of it (else ftwiz masks by prefixes)."""
    return masking_plan(tokenizer).how != "prefix"


def conversation_spans(tokenizer: Any, row: dict[str, Any], train_on: str = "assistant") -> tuple[str, list[Span]]:
    """The rendered conversation and the character spans that carry loss (all of it for train_on: all).
    `row` is a canonical conversation row: {"messages": [...], "tools": "<JSON>"?}. Raises RowTemplateError."""
    canonical = row["messages"]
    plan = masking_plan(tokenizer, with_tools=bool(row.get("tools")))
    prepared = prepare(canonical, row.get("tools"), plan.template)
    if prepared.problems:
        field, message = prepared.problems[0]
        more = f" (and {len(prepared.problems) - 1} more)" if len(prepared.problems) > 1 else ""
        raise RowTemplateError(message + more, field=field)
    messages, tools = prepared.messages, prepared.tools
    if train_on == "all":
        text, _ = _render(tokenizer, plan.template, messages, tools)
        return text, [(0, len(text))] if text else []
    skip = _untrained(canonical)
    if plan.how == "prefix":
        text, answers = _prefix_spans(tokenizer, plan.template, messages, tools)
    else:
        text, blocks = _render(tokenizer, plan.template, messages, tools, indices=True)
        answers = _marked_answers(blocks, messages, untrained=skip)
    spans = [_rstrip(text, span) for i, span in answers if i not in skip]
    return text, [s for s in spans if s[0] < s[1]]


def _untrained(canonical: list[dict[str, Any]]) -> set[int]:
    return {i for i, m in enumerate(canonical) if m.get("train") is False}


def _rstrip(text: str, span: Span) -> Span:
    start, end = span
    return start, start + len(text[start:end].rstrip())


def _render(
    tokenizer: Any,
    template: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    generation_prompt: bool = False,
    indices: bool = False,
) -> tuple[str, list[Span]]:
    """One render through transformers' own renderer (what apply_chat_template does, with the same special-token
    variables), with the `{% generation %}` spans when asked. A template error is the row's problem."""
    from jinja2 import TemplateError, TemplateSyntaxError
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        rendered, spans = render_jinja_template(
            conversations=[messages],
            tools=tools,
            chat_template=template,
            return_assistant_tokens_mask=indices,
            add_generation_prompt=generation_prompt,
            **tokenizer.special_tokens_map,
        )
    except TemplateSyntaxError as exc:  # the template itself is broken: every row would fail
        raise BadInput(f"the chat template does not parse: {exc}", hint=MARKERS_HINT) from exc
    except (TemplateError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise RowTemplateError(f"the chat template cannot render this row: {exc}") from exc
    return rendered[0], (list(spans[0]) if indices else [])


def _marked_answers(
    blocks: list[Span], messages: list[dict[str, Any]], *, untrained: set[int]
) -> list[tuple[int, Span]]:
    """The template's generation blocks as (assistant turn index, span): one block per assistant turn, in order.
    When a template marks a different number (it skips or splits turns), the blocks are still the answers, but
    cannot be matched to turns: fine unless a turn is to be left out."""
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if len(blocks) == len(assistant):
        return list(zip(assistant, blocks, strict=True))
    if untrained:
        raise RowTemplateError(
            f"the chat template marks {len(blocks)} answers for {len(assistant)} assistant turns, so ftwiz cannot "
            "tell which one is the turn not to train (train: false / weight: 0)",
            field="messages",
        )
    return [(-1, block) for block in blocks]


def _prefix_spans(
    tokenizer: Any, template: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> tuple[str, list[tuple[int, Span]]]:
    """The whole render and each assistant turn's span found by rendering prefixes (see the module docstring)."""
    full, _ = _render(tokenizer, template, messages, tools)
    answers: list[tuple[int, Span]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or i == 0:
            continue
        prompt, _ = _render(tokenizer, template, messages[:i], tools, generation_prompt=True)
        through, _ = _render(tokenizer, template, messages[: i + 1], tools)
        if not (full.startswith(through) and through.startswith(prompt)):
            raise RowTemplateError(
                "the tokenizer's chat template has no {% generation %} markers and renders this conversation "
                "differently from its prefixes, so ftwiz cannot tell the answers apart: set data.chat_template "
                "(e.g. chatml), or data.train_on: all",
                hint=MARKERS_HINT,
            )
        answers.append((i, (len(prompt), len(through))))
    return full, answers


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[Span]]:
    """The rendered conversation and the character span of each trained assistant answer."""
    return conversation_spans(tokenizer, {"messages": messages})


def encode_conversation(tokenizer: Any, row: dict[str, Any], train_on: str = "assistant") -> dict[str, list[int]]:
    """`input_ids` of the rendered conversation and `assistant_masks` (1 = trained), as TRL's pre-tokenized
    datasets expect them. Tokenized like `apply_chat_template(tokenize=True)`: no extra special tokens (the
    template writes its own BOS). Raises RowTemplateError for a row the template cannot render."""
    text, spans = conversation_spans(tokenizer, row, train_on)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start < e and end > s for s, e in spans)) for start, end in enc["offset_mapping"]]
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}


def conversation_mask(tokenizer: Any, messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """`encode_conversation` for bare messages (no tools)."""
    return encode_conversation(tokenizer, {"messages": messages})


def pretokenize(dataset: Any, tokenizer: Any, train_on: str = "assistant") -> tuple[Any, list[tuple[int, str]]]:
    """A conversational dataset as `input_ids` + `assistant_masks` rows, which TRL turns into labels, truncates
    and packs like any other, and the rows left out: (index in `dataset`, why) for each row the template cannot
    render. Arrow-mangled rows (every optional key present as None) are fine: render.prepare cleans them."""

    def encode(row: dict[str, Any]) -> dict[str, Any]:
        try:
            return {**encode_conversation(tokenizer, row, train_on), "problem": ""}
        except RowTemplateError as exc:
            where = f"{exc.field}: " if exc.field else ""
            return {"input_ids": [], "assistant_masks": [], "problem": where + exc.message}

    out = dataset.map(encode, remove_columns=dataset.column_names, desc="Rendering and masking chats (ftwiz)")
    problems = [(i, p) for i, p in enumerate(out["problem"]) if p]
    if problems:
        out = out.filter(lambda row: not row["problem"])
    return out.remove_columns("problem"), problems
