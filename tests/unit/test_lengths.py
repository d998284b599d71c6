"""max_length against the model and the data: never beyond the model's context (the recommendation is capped and
says so, the launch refuses more), and never so short that rows lose their whole answer (counted with the
model's own tokenizer; the launch refuses more than 1% unless data.on_error: skip)."""

from __future__ import annotations

import json
import time

import pytest

from ftwiz.commands.data import CheckOptions, answer_fit, approximate_start, check, could_lose_answers
from ftwiz.commands.plan import PlanOptions, context_reason, run
from ftwiz.commands.preflight import preflight
from ftwiz.config.presets import load_config
from ftwiz.config.schema import RunConfig
from ftwiz.data.check import Report, recommend
from ftwiz.errors import BadInput
from ftwiz.hardware.probe import Hardware
from ftwiz.models.spec import context_length

HERE = Hardware(
    gpus=(),
    driver_version=None,
    cuda_version=None,
    host_ram_bytes=32 * 2**30,
    cpu_count=8,
    disk_free_bytes=200 * 2**30,
    disk_path=".",
    no_gpu_reason="no NVIDIA GPU: NVML unavailable",
)


def test_the_context_comes_from_the_language_models_config():
    assert context_length({"model_type": "llama", "max_position_embeddings": 131072}) == 131072
    assert context_length({"model_type": "gpt2", "n_positions": 1024}) == 1024
    nested = {"model_type": "llava", "text_config": {"model_type": "llama", "max_position_embeddings": 4096}}
    assert context_length(nested) == 4096  # multimodal: the text model's own context
    assert context_length({"model_type": "x", "text_config": {}, "max_position_embeddings": 2048}) == 2048
    assert context_length({"model_type": "llama"}) is None


def test_the_recommendation_is_capped_at_the_context_and_says_so():
    report = Report(format="text", token_stats={"p50": 9, "p95": 9, "p99": 256_640, "max": 256_640, "total": 1})
    recommend(report, 131072)
    assert (report.recommended_max_length, report.max_length_capped_at) == (131072, 131072)
    recommend(report, None)
    assert (report.recommended_max_length, report.max_length_capped_at) == (256_640, None)
    short = Report(format="text", token_stats={"p50": 9, "p95": 9, "p99": 117, "max": 120, "total": 1})
    assert recommend(short, 512).recommended_max_length == 128 and short.max_length_capped_at is None


def test_data_check_with_a_model_caps_a_one_document_corpus(tmp_path):
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(" ".join(f"word{i}" for i in range(40_000)))  # one ~300k-character document
    report = check(CheckOptions(str(corpus), model="TinyLlama/TinyLlama-1.1B-Chat-v1.0")).report  # catalog: 2,048
    assert report.token_stats["p99"] > 50_000
    assert (report.recommended_max_length, report.max_length_capped_at) == (2048, 2048)
    assert check(CheckOptions(str(corpus))).report.max_length_capped_at is None  # no model: nothing to cap at


def test_plan_data_never_plans_beyond_the_context(tmp_path):
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(" ".join(f"word{i}" for i in range(40_000)))
    planned = run(PlanOptions(model="TinyLlama/TinyLlama-1.1B-Chat-v1.0", gpu="A100-80GB", data=str(corpus)))
    assert planned.data["config"]["seq_len"] == 2048
    assert any("the model's context" in r for r in planned.data["reasons"])
    assert "refuses data.max_length above 2,048" in (context_reason(4096, 2048) or "")
    assert context_reason(2048, 2048) is None and context_reason(4096, None) is None


def test_rows_losing_their_answer_are_counted_at_a_length():
    fit = answer_fit([10, 20, 30, 300], 64, approximate=False)
    assert (fit.losing, fit.rows, fit.share) == (1, 4, 0.25)
    assert fit.suggested == 320  # 99% of 4 rows is all 4: past the last answer's start, in 64s
    assert answer_fit(list(range(1000)), 512, approximate=False).suggested == 1024  # 990 of 1000 kept: 1%
    turns = [{"role": "user", "content": "x" * 400}, {"role": "assistant", "content": "y"}]
    assert approximate_start({"messages": turns}) == 102  # (400 + "user" + 2) / 4
    assert approximate_start({"prompt": "x" * 40, "completion": "y"}) == 10
    assert approximate_start({"text": "z" * 1000}) is None  # text trains from its first token: nothing to lose
    assert approximate_start({"messages": [*turns[:1], {**turns[1], "train": False}]}) is None


def test_a_comfortable_max_length_needs_no_tokenizer():
    turns = [{"role": "user", "content": "é" * 300}, {"role": "assistant", "content": "ok"}]
    assert could_lose_answers([{"messages": turns}], 4096) is False  # 300 characters: nowhere near 4,096 tokens
    assert could_lose_answers([{"messages": turns}], 1024) is True  # its JSON (1,800 bytes, escaped) + allowances
    assert could_lose_answers([{"prompt": "x" * 5000, "completion": "y"}], 4096) is True


def demo(**data) -> RunConfig:
    config = load_config("tiny-demo").config
    return config.model_copy(update={"data": config.data.model_copy(update=data)})


def test_the_launch_refuses_a_max_length_beyond_the_models_context():
    with pytest.raises(BadInput, match=r"data\.max_length: 1,024 tokens is longer than .*context \(512 tokens") as exc:
        preflight(demo(max_length=1024), HERE)
    assert "data.max_length=512" in (exc.value.hint or "")


def test_the_launch_refuses_when_rows_would_lose_their_answers():
    """The tiny demo at max_length 64: a quarter of the rows' answers start past token 64 (its tokenizer's p99 is
    117). Refused before any run folder, with the count, the share and both fixes."""
    started = time.perf_counter()
    with pytest.raises(BadInput, match=r"data\.max_length: 505 of 2,000 rows \(25\.2%\) would lose") as exc:
        preflight(demo(max_length=64), HERE)
    assert "--set data.max_length=128" in (exc.value.hint or "") and "data.on_error: skip" in (exc.value.hint or "")
    assert time.perf_counter() - started < 30  # tokenizer load + 2,000 rows: seconds on a 2-core CI box
    assert preflight(demo(max_length=256), HERE) == []
    notes = preflight(demo(max_length=64, on_error="skip"), HERE)
    assert len(notes) == 1 and "505 of 2,000 rows" in notes[0] and "will be dropped" in notes[0]


def test_cpt_and_train_on_all_have_no_answers_to_lose(tmp_path):
    data = tmp_path / "chats.jsonl"
    turns = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]
    data.write_text(json.dumps({"messages": turns}) + "\n")
    assert preflight(demo(path=str(data), max_length=64, train_on="all"), HERE) == []
    with pytest.raises(BadInput, match="1 of 1 rows"):
        preflight(demo(path=str(data), max_length=64), HERE)
