"""Chat templates: how a conversation becomes text, and which of its tokens carry the loss.

The tokenizer's own template is used when it has one. Base models often have none: then a named fallback —
`chatml`, `llama-3`, `mistral-instruct`, `alpaca`, `phi` — set with `data.chat_template`, ChatML by default.
All of ftwiz's templates wrap each assistant turn in `{% generation %}` markers with the end-of-turn / EOS token
inside them, so TRL's assistant-only loss trains the answers and the stop, never the prompts.
Whitespace is written as string literals: transformers renders templates with trim_blocks/lstrip_blocks.
"""

from __future__ import annotations

from typing import Any

_ASSISTANT_END = "{% generation %}{{ message['content'] + END }}{% endgeneration %}"
# Where a format puts a space before the answer, the space opens the answer (BPE merges it into the first word),
# so the generation prompt ends before it and the model learns to produce it.
_SPACED_ASSISTANT_END = "{% generation %}{{ ' ' + message['content'] + END }}{% endgeneration %}"

# ChatML with tools the Qwen 2.5 / Hermes way: the tool list in the system turn, each call a <tool_call> JSON block
# in the answer, results as `tool` turns; reasoning as <think>...</think> before the answer. Plain conversations
# render exactly as before; everything the assistant says (reasoning, calls, end-of-turn) is inside the markers.
_CHATML_CALL = (
    "{{ ('\\n' if message['content'] or not loop.first else '') + '<tool_call>\\n{\"name\": \"' "
    "+ call['function']['name'] + '\", \"arguments\": ' + (call['function']['arguments'] "
    "if call['function']['arguments'] is string else call['function']['arguments'] | tojson) + '}\\n</tool_call>' }}"
)
CHATML = (
    "{% set END = '<|im_end|>' if eos_token == '<|im_end|>' else '<|im_end|>' + eos_token %}"
    "{% if tools %}{{ '<|im_start|>system\\n' }}"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% endif %}"
    '{{ \'# Tools\\n\\nYou may call these functions, each call a JSON object {"name": ..., "arguments": ...} in '
    "<tool_call></tool_call> tags:\\n<tools>' }}"
    "{% for tool in tools %}{{ '\\n' + (tool | tojson) }}{% endfor %}{{ '\\n</tools><|im_end|>\\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if not (tools and loop.first and message['role'] == 'system') %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% if message['reasoning_content'] %}{{ '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' }}"
    "{% endif %}{{ message['content'] }}"
    "{% for call in message['tool_calls'] or [] %}" + _CHATML_CALL + "{% endfor %}"
    "{{ END }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA_3 = (
    "{% set END = '<|eot_id|>' %}"
    "{{ bos_token or '' }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['role'] == 'assistant' %}" + _ASSISTANT_END + ""
    "{% else %}{{ message['content'] + '<|eot_id|>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

MISTRAL_INSTRUCT = (
    "{% set END = eos_token %}"
    "{{ bos_token or '' }}"
    "{% set system = messages[0]['content'] + '\\n\\n' if messages[0]['role'] == 'system' else '' %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + (system if loop.index0 <= 1 else '') + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}" + _SPACED_ASSISTANT_END + ""
    "{% endif %}"
    "{% endfor %}"
)

ALPACA = (
    "{% set END = eos_token %}"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}"
    "{% else %}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\\n\\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' }}" + _ASSISTANT_END + "{{ '\\n\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)

PHI = (
    "{% set END = eos_token %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'Instruct: ' + message['content'] + '\\n' }}"
    "{% else %}{{ 'Output:' }}" + _SPACED_ASSISTANT_END + "{{ '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Output:' }}{% endif %}"
)

TEMPLATES = {"chatml": CHATML, "llama-3": LLAMA_3, "mistral-instruct": MISTRAL_INSTRUCT, "alpaca": ALPACA, "phi": PHI}


def ensure_chat_template(tokenizer: Any, name: str | None = None) -> str | None:
    """Set the named template (an explicit choice wins), or ChatML when the tokenizer has none.
    Returns the name set, or None when the tokenizer's own template stays."""
    if name is not None:
        tokenizer.chat_template = TEMPLATES[name]
        return name
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
