"""Tool calls and reasoning under real chat templates: the trained tokens decode to exactly the assistant turns.

The templates are the real ones, from TRL's installed copies (byte-identical to what the models ship; TRL keeps
them to recognise a tokenizer and swap in its training variant). The tokenizer is a byte-level BPE trained here on
the rendered text, with the templates' control tokens as special tokens, so decoding is exact and offline.
The rows are canonical (coord/canonical.md): arguments and tools as JSON strings, reasoning_content on assistant
turns, `train: False` on a turn not to train.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest
import trl.chat_template_utils as trl_templates

from ftwiz import bundled
from ftwiz.data.masking import (
    RowTemplateError,
    conversation_spans,
    encode_conversation,
    masking_plan,
    pretokenize,
)
from ftwiz.data.render import features, prepare
from ftwiz.data.templates import CHATML

TOOLS = json.dumps(
    [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        }
    ]
)
CALL = {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": '{"city": "Riga"}'}}
TURNS = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi, ask me about the weather.", "reasoning_content": "Greet back."},
    {"role": "user", "content": "Weather in Riga?"},
    {"role": "assistant", "content": "", "reasoning_content": "I should call the tool.", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "TOOLRESULT 12C cloudy"},
    {"role": "assistant", "content": "It is 12C and cloudy in Riga.", "reasoning_content": "Report the result."},
]
NEVER_TRAINED = ("TOOLRESULT", "You are a weather bot.", "Weather in Riga?", "Hello<")


def _row(*, reasoning: bool = True, tools: bool = True, untrained: int | None = None) -> dict:
    turns = [dict(t) for t in TURNS]
    if not reasoning:
        for t in turns:
            t.pop("reasoning_content", None)
    if untrained is not None:
        turns[untrained]["train"] = False
    return {"messages": turns, **({"tools": TOOLS} if tools else {})}


# template -> (bos, eos) as the models' tokenizers set them
SPECIALS = {
    "qwen3": (None, "<|im_end|>"),
    "llama3_1": ("<|begin_of_text|>", "<|eot_id|>"),
    "gptoss": (None, "<|return|>"),
    "deepseekv3": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "gemma3": ("<bos>", "<end_of_turn>"),
    "chatml": (None, "<|im_end|>"),  # ftwiz's fallback, the fix the problems name
}
CONTROL = re.compile(
    r"<\|[^|<>]*\|>|<｜[^｜]*｜>|</?(?:think|tool_call|tool_response|tools)>|<(?:start|end)_of_turn>|<bos>"
)


def _tokenizer(name: str, texts: list[str]):
    """A byte-level BPE for one real template, trained on `texts`, control tokens special (offsets stay exact)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bos, eos = SPECIALS[name]
    specials = sorted({m.group(0) for t in texts for m in CONTROL.finditer(t)} | {x for x in (bos, eos) if x})
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([CONTROL.sub(" ", t) for t in texts], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)
    fast.add_special_tokens({"additional_special_tokens": specials})
    fast.chat_template = CHATML if name == "chatml" else getattr(trl_templates, f"{name}_chat_template")
    return fast


def _fitted(name: str, rows: list[dict]):
    """The tokenizer for `name`, trained on the rows as the masking path renders them."""
    scratch = _tokenizer(name, [])
    texts = []
    for row in rows:
        with contextlib.suppress(RowTemplateError):  # a row the test expects to fail has no text to learn
            texts.append(conversation_spans(scratch, row)[0])
    return _tokenizer(name, texts)


def _trained_runs(tokenizer, enc: dict) -> list[str]:
    """The decoded text of each contiguous run of trained tokens."""
    runs, current = [], []
    for token, trained in zip(enc["input_ids"], enc["assistant_masks"], strict=True):
        if trained:
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current, clean_up_tokenization_spaces=False))
            current = []
    if current:
        runs.append(tokenizer.decode(current, clean_up_tokenization_spaces=False))
    return runs


QWEN3 = [
    "<think>\nGreet back.\n</think>\n\nHi, ask me about the weather.<|im_end|>",
    '<think>\nI should call the tool.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Riga"}}'
    "\n</tool_call><|im_end|>",
    "<think>\nReport the result.\n</think>\n\nIt is 12C and cloudy in Riga.<|im_end|>",
]
GPTOSS = [  # earlier thinking dropped (the tool call's, since a final answer follows); only the last answer's kept
    "<|start|>assistant<|channel|>final<|message|>Hi, ask me about the weather.<|end|>",
    '<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Riga"}<|call|>',
    "<|start|>assistant<|channel|>analysis<|message|>Report the result.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>It is 12C and cloudy in Riga.<|return|>",
]
LLAMA31 = [  # arguments as an object (not the JSON string encoded twice); the tool result is never trained
    "Hi, ask me about the weather.<|eot_id|>",
    '{"name": "get_weather", "parameters": {"city": "Riga"}}<|eot_id|>',
    "It is 12C and cloudy in Riga.<|eot_id|>",
]
DEEPSEEKV3 = [  # TRL's training variant: the argument string is parsed, the template writes it back with tojson
    "<｜Assistant｜>Hi, ask me about the weather.<｜end▁of▁sentence｜>",
    "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    '{"city": "Riga"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>',
    "<｜tool▁outputs▁end｜>It is 12C and cloudy in Riga.<｜end▁of▁sentence｜>",
]
# template -> (how ftwiz masks it, the row's options, the trained runs)
CASES = {
    "qwen3": ("trl", {}, QWEN3),
    "gptoss": ("trl", {}, GPTOSS),
    "llama3_1": ("prefix", {"reasoning": False}, LLAMA31),  # TRL 1.16 has no training variant of Llama 3.1
    "deepseekv3": ("trl", {"reasoning": False, "tools": False}, DEEPSEEKV3),  # it renders no tool list
    "chatml": ("markers", {}, QWEN3),  # tools, calls and reasoning the Qwen way, in its own markers
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_trained_tokens_are_exactly_the_assistant_turns(name):
    how, options, expected = CASES[name]
    row = _row(**options)
    tokenizer = _fitted(name, [row])
    assert masking_plan(tokenizer, with_tools="tools" in row).how == how
    enc = encode_conversation(tokenizer, row)
    runs = _trained_runs(tokenizer, enc)
    assert runs == expected
    assert not any(marker in run for run in runs for marker in NEVER_TRAINED)
    text, _ = conversation_spans(tokenizer, row)
    assert tokenizer.decode(enc["input_ids"], clean_up_tokenization_spaces=False) == text
    assert "TOOLRESULT 12C cloudy" in text  # rendered as context, never trained


@pytest.mark.parametrize("name", list(CASES))
def test_an_untrained_turn_is_rendered_but_not_trained(name):
    _, options, expected = CASES[name]
    row = _row(untrained=2, **options)  # the first answer: weight 0
    tokenizer = _fitted(name, [row])
    runs = _trained_runs(tokenizer, encode_conversation(tokenizer, row))
    assert runs == expected[1:]
    assert "Hi, ask me about the weather." in conversation_spans(tokenizer, row)[0]


def test_qwen3_trains_every_turn_in_the_form_the_model_generates_it():
    """TRL's Qwen3 training variant (the one `assistant_only_loss` swaps in) keeps each turn's <think> block; the
    original drops the reasoning of turns before the last user turn, so that earlier reasoning is rendered (and
    trained) only because the training variant renders it. The trained text is what the rendering template shows."""
    row = _row(tools=False)
    tokenizer = _fitted("qwen3", [row])
    original = tokenizer.apply_chat_template(
        prepare(row["messages"], None, tokenizer.chat_template).messages, tokenize=False
    )
    assert "Greet back." not in original and "Report the result." in original
    text, spans = conversation_spans(tokenizer, row)
    assert [text[s:e] for s, e in spans] == QWEN3  # tools=False: the same answers as with tools


def test_train_on_all_trains_every_token():
    row = _row()
    tokenizer = _fitted("qwen3", [row])
    enc = encode_conversation(tokenizer, row, train_on="all")
    assert all(enc["assistant_masks"]) and len(enc["input_ids"]) > 0


def test_a_gemma3_row_without_a_user_turn_is_that_rows_problem():
    row = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello."}]}
    tokenizer = _tokenizer("gemma3", [])
    with pytest.raises(RowTemplateError, match="roles must alternate"):
        encode_conversation(tokenizer, row)


def test_llama31_parallel_calls_are_a_row_problem_with_the_fix():
    row = _row(reasoning=False)
    row["messages"][4]["tool_calls"] = [CALL, {**CALL, "id": "call_2"}]
    tokenizer = _tokenizer("llama3_1", [])
    with pytest.raises(RowTemplateError, match="2 parallel tool calls") as err:
        encode_conversation(tokenizer, row)
    assert err.value.field == "messages[4].tool_calls" and "one turn per call" in err.value.message


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("llama3_1", {}, "renders no reasoning"),  # Llama 3.1 has no reasoning field
        ("deepseekv3", {"reasoning": False}, "renders no tool list"),  # DeepSeek-V3 never shows the tools
        ("gemma3", {"reasoning": False}, "renders no tool list"),
    ],
)
def test_what_a_template_would_drop_is_a_problem_with_the_fix(name, options, message):
    tokenizer = _tokenizer(name, [])
    with pytest.raises(RowTemplateError, match=message) as err:
        encode_conversation(tokenizer, _row(**options))
    assert "data.chat_template" in err.value.message


def test_template_features_are_read_from_the_real_templates():
    qwen3, llama, gptoss, deepseek = (
        features(getattr(trl_templates, f"{n}_chat_template")) for n in ("qwen3", "llama3_1", "gptoss", "deepseekv3")
    )
    assert (qwen3.reasoning, qwen3.arguments, qwen3.tool_list, qwen3.one_call_per_turn) == (
        "reasoning_content",
        "either",
        True,
        False,
    )
    assert (llama.reasoning, llama.arguments, llama.one_call_per_turn) == (None, "object", True)
    assert (gptoss.reasoning, gptoss.arguments, gptoss.one_call_per_turn) == ("thinking", "object", True)
    assert (deepseek.tool_list, deepseek.arguments, deepseek.tool_calls) == (False, "string", True)


def test_prepare_converts_per_template():
    messages = [{**t, "name": None, "tool_call_id": None} for t in _row()["messages"]]  # Arrow's None keys
    gptoss = prepare(messages, TOOLS, trl_templates.gptoss_chat_template)
    call = gptoss.messages[4]
    assert "name" not in call and call["thinking"] == "I should call the tool."
    assert call["tool_calls"][0]["function"]["arguments"] == {"city": "Riga"}
    assert gptoss.tools[0]["type"] == "function" and gptoss.tools[0]["function"]["name"] == "get_weather"
    deepseek = prepare(messages, None, trl_templates.deepseekv3_chat_template)
    assert deepseek.messages[4]["tool_calls"][0]["function"]["arguments"] == '{"city": "Riga"}'
    assert deepseek.messages[4]["content"] == ""


def test_the_worker_masks_arrow_rows_like_the_checker():
    """Through `datasets`, every turn gains every optional key as None (tool_calls: None on plain answers, which
    takes Llama 3.1's tool-call branch): the worker's pretokenize masks them as the clean rows are masked."""
    import datasets

    rows = [_row(reasoning=False), _row(reasoning=False, untrained=2)]
    tokenizer = _fitted("llama3_1", rows)
    arrow = datasets.Dataset.from_list(rows)
    assert arrow[0]["messages"][2]["tool_calls"] is None  # the mangling this is about
    out, problems = pretokenize(arrow, tokenizer)
    assert problems == []
    assert [dict(r) for r in out] == [encode_conversation(tokenizer, r) for r in rows]


def test_the_worker_counts_rows_the_template_cannot_render():
    import datasets

    good = _row(reasoning=False)
    bad = _row(reasoning=False)
    bad["messages"][4]["tool_calls"] = [CALL, CALL]
    tokenizer = _fitted("llama3_1", [good])
    out, problems = pretokenize(datasets.Dataset.from_list([good, bad, good]), tokenizer)
    assert len(out) == 2 and [i for i, _ in problems] == [1]
    assert "parallel tool calls" in problems[0][1]


def _saved(tokenizer, folder: Path) -> str:
    """The tokenizer as a model folder `data check --tokenizer` can load (the tiny demo's config beside it)."""
    tokenizer.save_pretrained(folder)
    shutil.copy(Path(bundled.resolve("ftwiz:tiny-demo/model", key="model.id")) / "config.json", folder)
    return str(folder)


MULTI_TURN = [
    {
        "messages": [
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": f"Where does person {i} live?"},
            {"role": "assistant", "content": f"Person {i} lives in Riga."},
            {"role": "user", "content": "And their sister?"},
            {"role": "assistant", "content": "She lives in Quito."},
        ]
    }
    for i in range(4)
]


def test_data_check_with_the_tokenizer_agrees_with_the_worker_under_qwen3(tmp_path):
    """The real Qwen3 template is not prefix-preserving: the check used to refuse every multi-turn file."""
    import datasets

    from ftwiz.commands.data import CheckOptions, check

    tokenizer = _fitted("qwen3", MULTI_TURN)
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in MULTI_TURN))
    result = check(CheckOptions(str(data), tokenizer=_saved(tokenizer, tmp_path / "tok"), seq_len=8))
    assert result.ok, result.report.errors
    out, _ = pretokenize(datasets.Dataset.from_list(result.rows), tokenizer)
    lengths = sorted(len(r["input_ids"]) for r in out)
    trained = sum(sum(r["assistant_masks"]) for r in out)
    assert result.report.token_stats["total"] == sum(lengths)
    assert result.report.loss_token_share == pytest.approx(trained / sum(lengths))
    assert result.report.rows_losing_answer == len(MULTI_TURN)  # 8 tokens hold no answer


def test_data_check_reports_a_template_error_at_its_line(tmp_path):
    from ftwiz.commands.data import CheckOptions, check
    from ftwiz.data.check import describe

    rows = [MULTI_TURN[0], {"messages": [{"role": "system", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}]
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tokenizer = _fitted("gemma3", rows)
    result = check(CheckOptions(str(data), tokenizer=_saved(tokenizer, tmp_path / "tok")))
    assert not result.ok and result.report.error_count == 1 and result.report.valid_rows == 1
    assert describe(result.report.errors[0]).startswith("line 2:")
    assert "roles must alternate" in result.report.errors[0]["message"]
    assert result.report.rows_losing_answer is None  # no seq_len given


@pytest.fixture()
def tiny():
    """The tiny demo model and its tokenizer, under Llama 3.1's template (which TRL cannot patch). A fresh model
    each test: the trainer wraps it in an adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = bundled.resolve("ftwiz:tiny-demo/model", key="model.id")
    tokenizer = AutoTokenizer.from_pretrained(path)
    specials = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.bos_token, tokenizer.pad_token = "<|begin_of_text|>", tokenizer.eos_token
    tokenizer.chat_template = trl_templates.llama3_1_chat_template
    model = AutoModelForCausalLM.from_pretrained(path)
    model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def _config(on_error: str):
    from ftwiz.config.schema import RunConfig

    return RunConfig.model_validate(
        {
            "model": {"id": "ftwiz:tiny-demo/model"},
            "data": {"path": "x.jsonl", "on_error": on_error},
            "train": {"max_steps": 1},
        }
    )


def test_the_trainer_labels_are_the_assistant_turns_of_tool_rows(tiny, tmp_path):
    """Through the worker's trainer builder: TRL turns ftwiz's pre-computed masks into the labels it trains."""
    import datasets

    from ftwiz.runs.store import RunDir
    from ftwiz.train.build import make_trainer

    model, tokenizer = tiny
    rows = datasets.Dataset.from_list([_row(reasoning=False), _row(reasoning=False, untrained=2)])
    trainer = make_trainer(_config("stop"), model, tokenizer, rows, None, RunDir(tmp_path), [])
    assert trainer.args.assistant_only_loss is False
    for example, expected in zip(trainer.train_dataset, (LLAMA31, LLAMA31[1:]), strict=True):
        enc = {"input_ids": example["input_ids"], "assistant_masks": [x != -100 for x in example["labels"]]}
        assert _trained_runs(tokenizer, enc) == expected


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_the_worker_stops_on_or_drops_rows_the_template_cannot_render(tiny, tmp_path, on_error):
    import datasets

    from ftwiz.errors import BadInput
    from ftwiz.runs.store import RunDir
    from ftwiz.train.build import make_trainer

    model, tokenizer = tiny
    bad = _row(reasoning=False)
    bad["messages"][4]["tool_calls"] = [CALL, CALL]
    rows = datasets.Dataset.from_list([_row(reasoning=False), bad])
    decisions: list[str] = []
    if on_error == "stop":
        with pytest.raises(BadInput, match=r"cannot render 1 of 2 training rows \(row 2: .*parallel tool calls"):
            make_trainer(_config(on_error), model, tokenizer, rows, None, RunDir(tmp_path), [], decisions)
        return
    trainer = make_trainer(_config(on_error), model, tokenizer, rows, None, RunDir(tmp_path), [], decisions)
    assert len(trainer.train_dataset) == 1
    assert any("dropped 1 of 2 training rows" in d for d in decisions)
