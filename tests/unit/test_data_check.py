"""`ftwiz data check`: every format detected, every planted error reported at its line or row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwiz.data.check import check
from ftwiz.data.formats import normalize, validate
from ftwiz.errors import BadInput

GOOD_CHAT = {
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
}


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_planted_errors_are_reported_at_their_lines(tmp_path):
    path = jsonl(
        tmp_path / "chats.jsonl",
        [
            json.dumps(GOOD_CHAT),
            json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}),
            '{"messages": [{"role": "user", "content": "q"}',
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "a"},
                        {"role": "user", "content": "b"},
                        {"role": "assistant", "content": "c"},
                    ]
                }
            ),
            json.dumps({"messages": [{"role": "bot", "content": "a"}, {"role": "assistant", "content": "c"}]}),
            "",
            json.dumps({"messages": [{"role": "user", "content": "q"}]}),
            json.dumps([1, 2]),
        ],
    )
    report = check(str(path))
    assert report.format == "messages" and report.rows == 7 and report.valid_rows == 1
    assert [(e["line"], e["field"]) for e in report.errors] == [
        (2, "messages[1].content"),
        (3, None),
        (4, "messages[1].role"),
        (5, "messages[0].role"),
        (7, "messages"),
        (8, None),
    ]
    assert report.errors[0]["message"] == "empty assistant turn: nothing to learn from"
    assert report.errors[1]["message"].startswith("malformed JSON")
    assert "unknown role 'bot'" in report.errors[3]["message"]
    assert report.error_count == 6


def test_only_the_first_20_problems_are_listed_with_the_total(tmp_path):
    path = jsonl(tmp_path / "bad.jsonl", ["{oops"] * 45)
    report = check(str(path))
    assert report.error_count == 45 and len(report.errors) == 20 and report.errors[-1]["line"] == 20


@pytest.mark.parametrize(
    ("row", "fmt", "canonical"),
    [
        (GOOD_CHAT, "messages", GOOD_CHAT),
        (
            {
                "conversations": [
                    {"from": "system", "value": "s"},
                    {"from": "human", "value": "q"},
                    {"from": "gpt", "value": "a"},
                ]
            },
            "sharegpt",
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ]
            },
        ),
        (
            {"instruction": "Add", "input": "1+1", "output": "2"},
            "alpaca",
            {"messages": [{"role": "user", "content": "Add\n\n1+1"}, {"role": "assistant", "content": "2"}]},
        ),
        (
            {"instruction": "Hi", "input": "", "output": "Hello"},
            "alpaca",
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        ),
        ({"question": "q?", "answer": "a"}, "prompt_completion", {"prompt": "q?", "completion": "a"}),
        ({"prompt": "p", "completion": "c"}, "prompt_completion", {"prompt": "p", "completion": "c"}),
        ({"text": "a document"}, "text", {"text": "a document"}),
        (
            {"prompt": "p", "chosen": "good", "rejected": "bad"},
            "preference",
            {"prompt": "p", "chosen": "good", "rejected": "bad"},
        ),
        (
            {"prompt": "p", "completion": "good", "label": True},
            "unpaired_preference",
            {"prompt": "p", "completion": "good", "label": True},
        ),
        (
            {"prompt": "p", "completion": [{"role": "assistant", "content": "bad"}], "label": False},
            "unpaired_preference",
            {
                "prompt": [{"role": "user", "content": "p"}],
                "completion": [{"role": "assistant", "content": "bad"}],
                "label": False,
            },
        ),
    ],
)
def test_each_format_is_detected_and_normalised(tmp_path, row, fmt, canonical):
    report = check(str(jsonl(tmp_path / "d.jsonl", [json.dumps(row)])))
    assert report.format == fmt and report.valid_rows == 1, report.errors
    assert normalize(row, fmt) == canonical


def test_csv_json_and_text_files_use_row_numbers(tmp_path):
    (tmp_path / "a.csv").write_text("instruction,input,output\nSay hi,,hi\n,ctx,out\n")
    report = check(str(tmp_path / "a.csv"))
    assert report.format == "alpaca" and report.errors == [
        {"row": 2, "field": "instruction", "message": "missing or empty"}
    ]
    (tmp_path / "b.json").write_text(json.dumps({"data": [{"text": "x"}, {"text": ""}]}))
    report = check(str(tmp_path / "b.json"))
    assert report.errors == [{"row": 2, "field": "text", "message": "missing or empty"}]
    (tmp_path / "c.txt").write_text("first doc\n\nsecond doc\n")
    assert check(str(tmp_path / "c.txt")).rows == 2


def test_folders_name_the_file(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    jsonl(folder / "a.jsonl", [json.dumps({"text": "ok"})])
    jsonl(folder / "b.jsonl", [json.dumps({"text": ""})])
    report = check(str(folder))
    assert report.rows == 2 and report.errors[0]["file"] == str(folder / "b.jsonl")


def test_explicit_format_and_bad_inputs(tmp_path):
    path = jsonl(tmp_path / "x.jsonl", [json.dumps({"foo": 1})])
    assert "cannot tell the format" in check(str(path)).errors[0]["message"]
    with pytest.raises(BadInput, match="no such file"):
        check(str(tmp_path / "nope.jsonl"))
    assert check(str(path), fmt="text").errors[0] == {"line": 1, "field": "text", "message": "missing or empty"}
    assert validate({"chosen": "a", "rejected": "a"}, "preference")[0].message.startswith("identical")


def test_lengths_are_approximate_without_a_tokenizer(tmp_path):
    rows = [json.dumps({"text": "x" * (4 * n)}) for n in range(1, 101)]  # 1..100 tokens at 4 chars/token
    report = check(str(jsonl(tmp_path / "t.jsonl", rows)), seq_len=50)
    stats = report.token_stats
    assert stats["approximate"] is True
    assert (stats["p50"], stats["p99"], stats["max"], stats["total"]) == (50, 99, 100, 5050)
    assert report.recommended_max_length == 128
    assert report.rows_over_seq_len == 50


def test_unpaired_feedback_needs_a_boolean_label_and_is_counted(tmp_path):
    rows = [
        {"prompt": "p", "completion": "good", "label": True},
        {"prompt": "p", "completion": "bad", "label": False},
        {"prompt": "p", "completion": "meh", "label": "yes"},
    ]
    report = check(str(jsonl(tmp_path / "f.jsonl", [json.dumps(r) for r in rows])))
    assert report.format == "unpaired_preference" and report.labels == {"desirable": 1, "undesirable": 1}
    assert report.errors == [
        {"line": 3, "field": "label", "message": "expected true (desirable) or false (undesirable), got 'yes'"}
    ]


def test_each_format_names_the_methods_that_train_on_it():
    from ftwiz.data.formats import methods_for
    from ftwiz.data.load import check_method

    assert methods_for("preference") == ("dpo", "orpo", "kto") and methods_for("unpaired_preference") == ("kto",)
    check_method("unpaired_preference", "kto", "f.jsonl")
    with pytest.raises(BadInput, match="trains with method kto, not dpo"):
        check_method("unpaired_preference", "dpo", "f.jsonl")
    with pytest.raises(BadInput, match="not sft"):
        check_method("unpaired_preference", "sft", "f.jsonl")


def test_kto_weights_balance_feedback_as_the_paper_advises():
    from ftwiz.train.build import kto_weights

    assert kto_weights(100, 100) is None and kto_weights(120, 100) is None  # ratio within [1, 4/3]
    desirable, undesirable = kto_weights(10, 90)  # 1:9 -> desirable answers weigh 9x
    assert undesirable == 1.0 and desirable * 10 / 90 == pytest.approx(1.0, rel=1e-3)
    desirable, _ = kto_weights(900, 100)  # 9:1 -> scaled down to 4/3
    assert desirable * 900 / 100 == pytest.approx(4 / 3, rel=1e-3)
    assert kto_weights(0, 10) is None
