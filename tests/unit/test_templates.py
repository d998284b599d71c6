"""ftwiz's chat templates, tested by exact strings, and the loss mask: exactly the answers and their stop token."""

from __future__ import annotations

import pytest

from ftwiz import bundled
from ftwiz.data.templates import TEMPLATES, ensure_chat_template

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "See you."},
]

EXPECTED = {
    "chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nSee you.<|im_end|>\n",
    "llama-3": "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user"
    "<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    "See you.<|eot_id|>",
    "mistral-instruct": "[INST] Be brief.\n\nHi [/INST] Hello!<|im_end|>[INST] Bye [/INST] See you.<|im_end|>",
    "alpaca": "Be brief.\n\n### Instruction:\nHi\n\n### Response:\nHello!<|im_end|>\n\n### Instruction:\nBye\n\n"
    "### Response:\nSee you.<|im_end|>\n\n",
    "phi": "Be brief.\nInstruct: Hi\nOutput: Hello!<|im_end|>\nInstruct: Bye\nOutput: See you.<|im_end|>\n",
}
STOP = {"llama-3": "<|eot_id|>"}
SPACED = {"mistral-instruct", "phi"}  # the space before the answer belongs to the answer


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bundled.resolve("ftwiz:tiny-demo/model", key="model.id"))
    tok.add_special_tokens({"additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]})
    return tok


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_templates_render_exactly(tokenizer, name):
    ensure_chat_template(tokenizer, name)
    assert tokenizer.apply_chat_template(CONVERSATION, tokenize=False) == EXPECTED[name]


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_the_loss_mask_is_exactly_the_answers_and_their_stop(tokenizer, name):
    ensure_chat_template(tokenizer, name)
    enc = tokenizer.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    stop = STOP.get(name, "<|im_end|>")
    space = " " if name in SPACED else ""
    assert tokenizer.decode(masked) == f"{space}Hello!{stop}{space}See you.{stop}"


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_generation_prompt_ends_where_the_answer_begins(tokenizer, name):
    ensure_chat_template(tokenizer, name)
    prompt = tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(CONVERSATION[:3], tokenize=False)
    assert full.startswith(prompt) and full[len(prompt) :].lstrip(" ").startswith("Hello!")


def test_the_tokenizers_own_template_stays_unless_one_is_named(tokenizer):
    own = tokenizer.chat_template
    assert ensure_chat_template(tokenizer) is None and tokenizer.chat_template == own
    tokenizer.chat_template = None
    assert ensure_chat_template(tokenizer) == "chatml"
