"""Which tokens of a conversation carry the loss, for any chat template.

TRL's assistant-only loss needs `{% generation %}` markers in the template; it patches a list of well-known
templates (Llama 3, Qwen, Phi-3, Gemma ...) and rejects the rest, e.g. Mistral-Instruct's, TinyLlama/Zephyr's,
Llama-2-chat's or SmolLM2's. For those, ftwiz finds the answers itself by rendering conversation prefixes:

    prompt  = render(messages[:i], add_generation_prompt=True)     # everything before answer i
    through = render(messages[:i + 1])                             # ... and answer i with its end-of-turn

Answer i is the text between the two, minus trailing whitespace (the newline after `<|im_end|>`, the space
after `</s>`); leading whitespace stays, since it is part of the answer (SentencePiece's "▁Hello", Zephyr's
newline after `<|assistant|>` that the generation prompt leaves out). Tokens whose characters overlap an answer
carry the loss. This needs a prefix-preserving template (each render a prefix of the whole), which is checked.
No library does this for templates without markers (transformers' mask also needs them), hence the hand code.
"""

from __future__ import annotations

import re
from typing import Any

from ftwiz.errors import BadInput

MARKERS_HINT = (
    "Set data.chat_template to one of ftwiz's templates (chatml, llama-3, mistral-instruct, alpaca, phi), or "
    "data.train_on: all to train on every token."
)


_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")  # TRL's test, without importing TRL (data check)


def has_generation_markers(template: Any) -> bool:
    if isinstance(template, dict):  # a template shipped as named variants
        template = template.get("default", "")
    return bool(template) and _GENERATION.search(template) is not None


def trl_can_mask(tokenizer: Any) -> bool:
    """Whether TRL's own assistant-only loss handles this template (markers, or a training template it ships)."""
    if has_generation_markers(tokenizer.chat_template):
        return True
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:  # "patching is not supported for this template"
        return False
    return True


def _render(tokenizer: Any, messages: list[dict[str, Any]], *, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant answer (with its end-of-turn)."""
    full = _render(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or i == 0:
            continue
        prompt = _render(tokenizer, messages[:i], generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1])
        if not (full.startswith(through) and through.startswith(prompt)):
            raise BadInput(
                "the tokenizer's chat template has no {% generation %} markers and renders a conversation "
                "differently from its prefixes, so ftwiz cannot tell the answers apart",
                hint=MARKERS_HINT,
            )
        spans.append((len(prompt), len(through.rstrip())))
    return full, spans


def tokenize_with_assistant_mask(tokenizer: Any, messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """`input_ids` of the rendered conversation and `assistant_masks` (1 = trained), as TRL's pre-tokenized
    datasets expect them. Tokenized like `apply_chat_template(tokenize=True)`: no extra special tokens."""
    text, spans = assistant_char_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start < end_ and end > start_ for start_, end_ in spans)) for start, end in enc["offset_mapping"]]
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}


def conversation_mask(tokenizer: Any, messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The template's own `{% generation %}` mask when it has markers, otherwise the prefix-rendered one."""
    if has_generation_markers(tokenizer.chat_template):
        enc = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        return {"input_ids": list(enc["input_ids"]), "assistant_masks": list(enc["assistant_masks"])}
    return tokenize_with_assistant_mask(tokenizer, messages)


def pretokenize(dataset: Any, tokenizer: Any) -> Any:
    """A conversational dataset as `input_ids` + `assistant_masks` rows, which TRL turns into labels, truncates,
    and packs like any other. Used when TRL cannot mask the template itself."""
    return dataset.map(
        lambda row: tokenize_with_assistant_mask(tokenizer, row["messages"]),
        remove_columns=dataset.column_names,
        desc="Masking prompts (ftwiz)",
    )
