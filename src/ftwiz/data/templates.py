"""Chat templates: make sure the tokenizer can render conversations with the loss on the answers only.

TRL's assistant-only loss needs `{% generation %}` markers around each assistant turn (EOS inside them, so
the model learns to stop). A tokenizer with no chat template at all gets ChatML-style text markers.
"""

from __future__ import annotations

from typing import Any

# Whitespace is emitted as literals: transformers renders templates with trim_blocks/lstrip_blocks.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> str | None:
    """Give a template-less tokenizer the ChatML fallback; returns the name used, or None if it had one."""
    if getattr(tokenizer, "chat_template", None):
        return None
    tokenizer.chat_template = CHATML
    return "chatml"


def ensure_pad_token(tokenizer: Any) -> str | None:
    """A pad token for batching; returns what was chosen, or None if the tokenizer had one.

    Padding is masked out of the loss by the attention mask in TRL's collator, so reusing EOS does not hide
    EOS from the loss there; a dedicated pad token is still preferred when the vocabulary has one.
    """
    if tokenizer.pad_token is not None:
        return None
    for candidate in ("<|finetune_right_pad_id|>", "<|pad|>", "<pad>", tokenizer.unk_token):
        if candidate and candidate in tokenizer.get_vocab():
            tokenizer.pad_token = candidate
            return candidate
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer.eos_token
