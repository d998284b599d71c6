"""A few rows as the model will see them, split into trained and masked text (the wizard dims the masked part).

Uses the model's tokenizer and chat template (transformers: call it from a worker thread, never the UI thread).
Without a tokenizer (a catalog model not in the local cache) the rows are shown through ftwiz's ChatML
template, marked as such.
"""

from __future__ import annotations

from typing import Any

Segment = tuple[str, bool]  # (text, carries loss)


def load_tokenizer(model_ref: str, chat_template: str | None, trust_remote_code: bool = False) -> tuple[Any, str]:
    """The tokenizer to render with, and a note on where its template comes from."""
    from transformers import AutoTokenizer

    from ftwiz.data.templates import ensure_chat_template
    from ftwiz.models.resolve import resolve_model

    resolved = resolve_model(model_ref, trust_remote_code=trust_remote_code)
    if (
        resolved.path is None
        or not (resolved.path if resolved.path.is_dir() else resolved.path.parent)
        .joinpath("tokenizer_config.json")
        .exists()
    ):
        return None, "no tokenizer cached for this model: shown through ChatML"
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), trust_remote_code=trust_remote_code)
    chosen = ensure_chat_template(tokenizer, chat_template)
    return tokenizer, (f"template: {chosen}" if chosen else "template: the tokenizer's own")


def segments(row: dict[str, Any], tokenizer: Any, train_on: str = "assistant") -> list[Segment]:
    """One normalised row as (text, trained) pieces, in order."""
    from ftwiz.data.masking import RowTemplateError, conversation_spans

    everything = train_on == "all"
    if "messages" in row:
        if tokenizer is None:
            return _chatml(row["messages"], everything)
        try:  # the worker's own masking: what is shown bold is what trains
            text, spans = conversation_spans(tokenizer, row, train_on)
        except RowTemplateError as exc:
            return [(f"(this row cannot be rendered: {exc.message})", False)]
        out: list[Segment] = []
        cursor = 0
        for start, end in spans:
            out += [(text[cursor:start], False), (text[start:end], True)]
            cursor = end
        out.append((text[cursor:], False))
        return [s for s in out if s[0]]
    eos = getattr(tokenizer, "eos_token", None) or ""
    if "chosen" in row:  # DPO: the answer to prefer is trained up, the rejected one down
        return [
            (_plain(row["prompt"]) + "\n", False),
            ("chosen: " + _plain(row["chosen"]), True),
            ("\nrejected: " + _plain(row["rejected"]), False),
        ]
    if "label" in row:  # KTO feedback: a desirable answer is trained up, an undesirable one down
        verdict = "desirable" if row["label"] else "undesirable"
        return [(_plain(row["prompt"]) + "\n", False), (f"{verdict}: " + _plain(row["completion"]), True)]
    if "completion" in row:
        return [(row["prompt"], everything), (row["completion"] + eos, True)]
    return [(row.get("text", ""), True)]


def _plain(part: Any) -> str:
    if isinstance(part, list):
        return "\n".join(f"{m['role']}: {m['content']}" for m in part)
    return str(part)


def _chatml(messages: list[dict[str, Any]], everything: bool) -> list[Segment]:
    out: list[Segment] = []
    for m in messages:
        head = f"<|im_start|>{m['role']}\n"
        if m["role"] == "assistant":
            out += [(head, everything), (m["content"] + "<|im_end|>", True), ("\n", everything)]
        else:
            out.append((head + m["content"] + "<|im_end|>\n", everything))
    return out
