"""Before/after generations on held-out prompts: the quickest way to see what training changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class Prompt:
    """A held-out prompt: chat messages up to the last assistant turn, or the start of a text."""

    messages: list[dict[str, str]] | None
    text: str | None
    reference: str

    @property
    def shown(self) -> str:
        if self.messages is not None:
            return "\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
        return self.text or ""


def pick_prompts(rows: Any, n: int = 4) -> list[Prompt]:
    """The first `n` held-out rows as prompts, each with the answer the data expects (KTO feedback: only rows
    whose answer is marked desirable)."""
    prompts: list[Prompt] = []
    for row in rows.select(range(min(10 * n, len(rows)))):
        if len(prompts) == n:
            break
        if row.get("label") is False:
            continue
        if "messages" in row:
            msgs = row["messages"]
            last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            if last is None:
                continue
            prompts.append(Prompt(msgs[:last], None, msgs[last]["content"]))
        elif "prompt" in row:  # prompt/completion, or a preference pair (the chosen answer is the reference)
            prompt, answer = row["prompt"], _text(row["completion"] if "completion" in row else row["chosen"])
            if isinstance(prompt, list):
                prompts.append(Prompt(prompt, None, answer))
            else:
                prompts.append(Prompt(None, prompt, answer))
        elif "text" in row:
            words = row["text"].split(" ")
            cut = max(1, len(words) // 3)
            prompts.append(Prompt(None, " ".join(words[:cut]), " ".join(words[cut:])))
    return prompts


def _text(value: Any) -> str:
    if isinstance(value, list):  # conversational completion
        return "\n".join(m["content"] for m in value)
    return str(value)


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: list[Prompt], max_new_tokens: int = MAX_NEW_TOKENS) -> list[str]:
    """Greedy completions, one prompt at a time (no padding to get wrong)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    try:
        for prompt in prompts:
            if prompt.messages is not None:
                enc = tokenizer.apply_chat_template(
                    prompt.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
                )
            else:
                enc = tokenizer(prompt.text, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = out[0, enc["input_ids"].shape[1] :]
            outputs.append(tokenizer.decode(new, skip_special_tokens=True).strip())
    finally:
        model.train(was_training)
    return outputs


def to_records(prompts: list[Prompt], before: list[str], after: list[str] | None) -> list[dict[str, str | None]]:
    """samples.json: what monitors show side by side."""
    return [
        {"prompt": p.shown, "expected": p.reference, "before": before[i], "after": after[i] if after else None}
        for i, p in enumerate(prompts)
    ]


def to_markdown(records: list[dict[str, str | None]]) -> str:
    """samples.md: each held-out prompt with the expected answer and the model's, before and after."""
    parts = ["# Samples: held-out prompts, greedy decoding, before and after training\n"]
    for i, rec in enumerate(records, 1):
        parts.append(f"## Prompt {i}\n\n```\n{rec['prompt']}\n```\n")
        parts.append(f"**Expected**\n\n```\n{rec['expected']}\n```\n")
        parts.append(f"**Before training**\n\n```\n{rec['before']}\n```\n")
        if rec["after"] is not None:
            parts.append(f"**After training**\n\n```\n{rec['after']}\n```\n")
    return "\n".join(parts)
