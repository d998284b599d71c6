"""Loss masking for any template: the trained tokens decode to exactly the answers and their end-of-turn token.

Real templates without `{% generation %}` markers, copied from their models' tokenizer_config.json (TRL cannot
patch any of them), and one of ftwiz's templates with markers, which TRL masks itself. Each conversation is
multi-turn with a system prompt (Mistral-Instruct v0.1 rejects system prompts, so its conversation has none).
The masks are checked both as ftwiz computes them and as the labels TRL's SFTTrainer finally trains on.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftwiz import bundled
from ftwiz.data.masking import assistant_char_spans, conversation_mask, trl_can_mask
from ftwiz.data.templates import CHATML
from ftwiz.errors import BadInput

# HuggingFaceH4/zephyr-7b-beta, TinyLlama/TinyLlama-1.1B-Chat-v1.0
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)
# meta-llama/Llama-2-7b-chat-hf: the system prompt folds into the first [INST], answers are stripped and spaced
LLAMA_2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
# HuggingFaceTB/SmolLM2-135M-Instruct: ChatML without markers, with a default system prompt
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# mistralai/Mistral-7B-Instruct-v0.1
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

SYSTEM = [{"role": "system", "content": "Answer in one line."}]
TURNS = [
    {"role": "user", "content": "Where does Kenji live?"},
    {"role": "assistant", "content": "Kenji lives in Riga."},
    {"role": "user", "content": "And Ana?"},
    {"role": "assistant", "content": "Ana lives in Quito."},
]
ANSWERS = ["Kenji lives in Riga.", "Ana lives in Quito."]
EOS = "<|im_end|>"  # the tiny demo tokenizer's EOS

# template -> (has a system prompt, how each trained answer reads once its leading whitespace is stripped)
CASES = {
    "zephyr": (ZEPHYR, True, "{answer}" + EOS),
    "llama-2-chat": (LLAMA_2_CHAT, True, "{answer} " + EOS),
    "smollm2": (SMOLLM2, True, "{answer}" + EOS),
    "mistral-v0.1": (MISTRAL_V01, False, "{answer}" + EOS),
}


@pytest.fixture()
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bundled.resolve("ftwiz:tiny-demo/model", key="model.id"))
    tok.add_special_tokens(
        {"additional_special_tokens": ["<|user|>", "<|assistant|>", "<|system|>", "<|im_start|>", "<s>"]}
    )
    tok.bos_token = "<s>"
    return tok


def _trained_runs(tokenizer, input_ids, mask) -> list[str]:
    """The decoded text of each contiguous run of trained tokens."""
    runs, current = [], []
    for token, trained in zip(input_ids, mask, strict=True):
        if trained:
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


@pytest.mark.parametrize("name", list(CASES))
def test_templates_without_markers_train_exactly_the_answers_and_their_eos(tokenizer, name):
    template, with_system, shape = CASES[name]
    tokenizer.chat_template = template
    assert not trl_can_mask(tokenizer), "TRL masks this template itself now: the case no longer tests ftwiz's masker"
    enc = conversation_mask(tokenizer, (SYSTEM if with_system else []) + TURNS)
    runs = _trained_runs(tokenizer, enc["input_ids"], enc["assistant_masks"])
    assert [run.lstrip() for run in runs] == [shape.format(answer=a) for a in ANSWERS]
    assert not any("Kenji live?" in run or "[INST]" in run or "<|user|>" in run for run in runs)


def test_a_template_with_markers_is_masked_by_the_template(tokenizer):
    tokenizer.chat_template = CHATML
    assert trl_can_mask(tokenizer)
    enc = conversation_mask(tokenizer, SYSTEM + TURNS)
    assert _trained_runs(tokenizer, enc["input_ids"], enc["assistant_masks"]) == [a + EOS for a in ANSWERS]


def test_a_template_that_rewrites_earlier_turns_is_refused_with_what_to_do(tokenizer):
    # Drops every assistant answer but the last (as reasoning templates drop old thoughts): not prefix-preserving.
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}{{ m['role'] + ': ' + m['content'] "
        "+ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    )
    with pytest.raises(BadInput, match="cannot tell the answers apart") as err:
        assistant_char_spans(tokenizer, SYSTEM + TURNS)
    assert "data.chat_template" in (err.value.hint or "")


@pytest.mark.parametrize("name", ["zephyr", "chatml"])
def test_sft_trainer_labels_are_the_answers_with_pad_equal_to_eos(tokenizer, tmp_path, name):
    """Through the worker's own trainer builder: TRL's labels carry the answers and every EOS, with the pad token
    set to EOS (TRL's collator masks padding by position, so EOS stays trained)."""
    import datasets
    from transformers import AutoModelForCausalLM

    from ftwiz.config.schema import RunConfig
    from ftwiz.runs.store import RunDir
    from ftwiz.train.build import make_trainer

    tokenizer.chat_template = ZEPHYR if name == "zephyr" else CHATML
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(bundled.resolve("ftwiz:tiny-demo/model", key="model.id"))
    model.resize_token_embeddings(len(tokenizer))
    config = RunConfig.model_validate(
        {"model": {"id": "ftwiz:tiny-demo/model"}, "data": {"path": "x.jsonl"}, "train": {"max_steps": 1}}
    )
    rows = datasets.Dataset.from_list([{"messages": SYSTEM + TURNS}, {"messages": TURNS[:2]}])
    trainer = make_trainer(config, model, tokenizer, rows, None, RunDir(tmp_path), [])
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    first = batch["labels"][0].tolist()
    runs = _trained_runs(tokenizer, batch["input_ids"][0].tolist(), [label != -100 for label in first])
    assert [run.lstrip() for run in runs] == [a + EOS for a in ANSWERS]
    short = batch["labels"][1].tolist()  # the padded row: padding (= EOS ids) is masked, its own EOS is not
    assert short.count(-100) > 0 and tokenizer.eos_token_id in short


def _fake_trainer(rows: list[dict], packing: bool):
    import datasets

    return SimpleNamespace(train_dataset=datasets.Dataset.from_list(rows), args=SimpleNamespace(packing=packing))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"input_ids": [1, 2, 3]}], "packing dropped the masks"),  # no labels at all
        ([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}], "the prompts are not masked"),  # labels = everything
        ([{"input_ids": [1, 2, 3], "labels": [-100, -100, -100]}], "no token carries loss"),
    ],
)
def test_the_worker_refuses_to_train_on_prompts_or_on_nothing(tokenizer, tmp_path, rows, message):
    from ftwiz.runs.store import RunDir, StatusWriter
    from ftwiz.train.reports import loss_report

    status = StatusWriter(RunDir(tmp_path), state="loading")
    with pytest.raises(BadInput, match=message):
        loss_report(_fake_trainer(rows, packing=True), tokenizer, 1, [], status, prompts_masked=True)


def test_continued_pretraining_may_train_on_every_token(tokenizer, tmp_path):
    from ftwiz.runs.store import RunDir, StatusWriter, read_status
    from ftwiz.train.reports import loss_report

    run = RunDir(tmp_path)
    rows = [{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}]
    loss_report(_fake_trainer(rows, packing=True), tokenizer, 1, [], StatusWriter(run), prompts_masked=False)
    assert read_status(run)["loss_token_share"] == 1.0
