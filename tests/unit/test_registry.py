"""LLaMA-Factory's dataset_info.json: which entry a data.path means, and each entry's rows translated to ftwiz's
input shapes with the format the entry declares. Fixtures are written here, in LLaMA-Factory's documented shapes
(its data/README.md): the shared corpus is tested in test_realworld_data.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from ftwiz.commands.data import CheckOptions, check
from ftwiz.config.schema import DataConfig
from ftwiz.data import registry
from ftwiz.data.check import PER_LINE, scan
from ftwiz.data.load import load_rows
from ftwiz.data.source import _datasets_folder, rows_from
from ftwiz.errors import BadInput

INFO = {
    "plain_alpaca": {"file_name": "plain_alpaca.json"},
    "custom_alpaca": {
        "file_name": "custom.jsonl",
        "columns": {"prompt": "q", "query": "ctx", "response": "a", "system": "sys", "history": "hist"},
    },
    "tool_chat": {
        "file_name": "tools.json",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "tools": "tools"},
    },
    "openai_tags": {
        "file_name": "tagged.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    },
    "ranked": {
        "file_name": "ranked.json",
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    },
    "ranked_alpaca": {
        "file_name": "ranked_alpaca.json",
        "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    },
    "feedback": {
        "file_name": "feedback.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    },
    "corpus": {"file_name": "corpus.txt", "columns": {"prompt": "text"}},
    "corpus_jsonl": {"file_name": "corpus.jsonl", "columns": {"prompt": "text"}},
    "on_the_hub": {"hf_hub_url": "someone/big_set", "ms_hub_url": "someone/big_set"},
    "not_downloaded": {"file_name": "absent.json"},
}

CUSTOM_ROW = {"q": "Translate", "ctx": "bonjour", "a": "hello", "sys": "Be exact.", "hist": [["hi", "hey"]], "id": 7}
TOOL_ROW = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"temp": 21}'},
        {"from": "gpt", "value": "It is 21 degrees."},
    ],
    "tools": '[{"name": "weather", "description": "Weather by city", "parameters": {"type": "object"}}]',
}
TAGGED_ROW = {
    "messages": [{"role": "user", "content": "<image>Who?"}, {"role": "assistant", "content": "A cat."}],
    "images": ["cat.jpg"],
}
RANKED_ROW = {
    "conversations": [{"from": "human", "value": "Name a colour."}],
    "chosen": {"from": "gpt", "value": "Blue."},
    "rejected": {"from": "gpt", "value": "Seven."},
}
FEEDBACK_ROWS = [
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "label": True},
    {"messages": [{"role": "user", "content": "2+3?"}, {"role": "assistant", "content": "6"}], "label": False},
]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A LLaMA-Factory data folder: the registry, the files it lists, and one file it does not list."""
    (tmp_path / "dataset_info.json").write_text(json.dumps(INFO, indent=2))
    (tmp_path / "plain_alpaca.json").write_text(json.dumps([{"instruction": "Say hi", "input": "", "output": "hi"}]))
    (tmp_path / "custom.jsonl").write_text(json.dumps(CUSTOM_ROW) + "\n")
    (tmp_path / "tools.json").write_text(json.dumps([TOOL_ROW]))
    (tmp_path / "tagged.json").write_text(json.dumps([TAGGED_ROW]))
    (tmp_path / "ranked.json").write_text(json.dumps([RANKED_ROW]))
    (tmp_path / "ranked_alpaca.json").write_text(
        json.dumps([{"instruction": "Pick", "input": "a or b", "chosen": "a", "rejected": "b"}])
    )
    (tmp_path / "feedback.json").write_text(json.dumps(FEEDBACK_ROWS))
    (tmp_path / "corpus.txt").write_text("Doc one.\n\nDoc two.\nDoc three.\n")  # LLaMA-Factory: one row a line
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"text": "A document."}) + "\n")
    (tmp_path / "unlisted.jsonl").write_text(json.dumps({"prompt": "2+2=", "completion": "4"}) + "\n")
    return tmp_path


def rows(path: Path, subset: str | None = None) -> list:
    return list(rows_from(str(path), subset=subset))


# --- what a registry is ------------------------------------------------------------------------------------------


def test_a_registry_is_told_from_save_to_disk_output():
    assert registry.is_registry(INFO)
    saved = {"citation": "", "description": "", "features": {"text": {"dtype": "string", "_type": "Value"}}}
    assert not registry.is_registry(saved)
    assert not registry.is_registry({"name": "x", "version": "1"}) and not registry.is_registry([INFO])
    assert not registry.is_registry({"a": {"description": "no source"}})


def test_entries_resolve_columns_and_tags_as_llamafactory_does():
    plain = registry.parse_entry("p", {"file_name": "p.json"})
    assert plain.columns == {"prompt": "instruction", "query": "input", "response": "output"}
    assert plain.hint == "alpaca" and plain.tags["role_tag"] == "from" and plain.tags["function_tag"] == "function_call"
    text = registry.parse_entry("c4", {"file_name": "c.jsonl", "columns": {"prompt": "text"}})
    assert text.columns == {"prompt": "text"} and text.hint == "text"  # given columns replace the defaults
    chat = registry.parse_entry("s", {"file_name": "s.json", "formatting": "sharegpt", "columns": {"tools": "t"}})
    assert chat.columns == {"tools": "t", "messages": "conversations"} and chat.hint == "sharegpt"
    tagged = registry.parse_entry("k", INFO["feedback"])
    assert (tagged.tags["role_tag"], tagged.tags["observation_tag"], tagged.hint) == (
        "role",
        "observation",
        "unpaired_preference",
    )
    assert registry.parse_entry("r", INFO["ranked"]).hint == "preference"
    with pytest.raises(BadInput, match="formatting 'weird'"):
        registry.parse_entry("w", {"file_name": "w.json", "formatting": "weird"})


# --- translation -------------------------------------------------------------------------------------------------


def test_alpaca_columns_are_renamed_to_the_standard_names(folder: Path):
    (row,) = rows(folder, "custom_alpaca")
    assert row.hint == "alpaca" and row.where == {"line": 1}
    assert row.data == {
        "id": 7,  # a column the entry does not name stays
        "instruction": "Translate",
        "input": "bonjour",
        "output": "hello",
        "history": [["hi", "hey"]],
        "system": "Be exact.",
    }


def test_sharegpt_tool_rows_keep_their_roles_and_tools(folder: Path):
    (row,) = rows(folder, "tool_chat")
    assert row.hint == "sharegpt" and row.data == TOOL_ROW  # already in the standard shape


def test_role_and_content_tags_become_from_and_value(folder: Path):
    (row,) = rows(folder, "openai_tags")
    assert row.data == {
        "conversations": [{"from": "human", "value": "<image>Who?"}, {"from": "gpt", "value": "A cat."}],
        "images": ["cat.jpg"],  # kept under its standard name: the format check refuses media
    }


def test_custom_tags_map_every_role():
    entry = registry.parse_entry(
        "x",
        {
            "file_name": "x.json",
            "formatting": "sharegpt",
            "columns": {"messages": "turns", "system": "sys"},
            "tags": {
                "role_tag": "speaker",
                "content_tag": "text",
                "user_tag": "customer",
                "assistant_tag": "agent",
                "observation_tag": "result",
                "function_tag": "call",
                "system_tag": "setup",
            },
        },
    )
    turns = [{"speaker": s, "text": s, "loss_weight": 0.0} for s in ("setup", "customer", "call", "result", "agent")]
    out = registry.translate({"turns": turns, "sys": "S", "turns_meta": 1}, entry)
    assert [t["from"] for t in out["conversations"]] == ["system", "human", "function_call", "observation", "gpt"]
    assert out["conversations"][0] == {"from": "system", "value": "setup", "loss_weight": 0.0}
    assert out["system"] == "S" and out["turns_meta"] == 1 and "turns" not in out
    weird = registry.translate({"turns": [{"speaker": "narrator", "text": "x"}]}, entry)
    assert weird["conversations"][0]["from"] == "narrator"  # unknown roles stay, for the check to name


def test_ranking_rows_become_preference_pairs(folder: Path):
    (row,) = rows(folder, "ranked")
    assert row.hint == "preference" and row.data == RANKED_ROW
    (pair,) = rows(folder, "ranked_alpaca")
    assert pair.hint == "preference" and pair.data == {"prompt": "Pick\na or b", "chosen": "a", "rejected": "b"}
    entry = registry.parse_entry(
        "h", {"file_name": "h", "ranking": True, "columns": {"prompt": "p", "system": "s", "history": "h"}}
    )
    out = registry.translate({"p": "now?", "s": "Be kind.", "h": [["before?", "yes"]], "chosen": "c"}, entry)
    assert out["prompt"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "before?"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "now?"},
    ]
    assert "system" not in out and "chosen" in out  # undeclared chosen kept as it is


def test_kto_tags_become_labels(folder: Path):
    got = rows(folder, "feedback")
    assert [r.hint for r in got] == ["unpaired_preference"] * 2
    assert [r.data["label"] for r in got] == [True, False]
    assert got[0].data["conversations"] == [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]
    entry = registry.parse_entry("k", {"file_name": "k", "columns": {"prompt": "q", "response": "a", "kto_tag": "ok"}})
    assert registry.translate({"q": "Q", "a": "A", "ok": False}, entry) == {
        "prompt": "Q",
        "completion": "A",
        "label": False,
    }


def test_an_entry_of_only_a_prompt_column_is_text(folder: Path):
    got = rows(folder, "corpus")
    assert [r.data for r in got] == [{"text": "Doc one."}, {"text": "Doc two."}, {"text": "Doc three."}]
    assert {r.hint for r in got} == {"text"} and got[0].text_rule == PER_LINE  # as LLaMA-Factory reads .txt
    (row,) = rows(folder, "corpus_jsonl")
    assert row.data == {"text": "A document."} and row.hint == "text"


def test_missing_columns_are_left_to_the_format_check():
    entry = registry.parse_entry("p", {"file_name": "p"})
    assert registry.translate({"instruction": "only"}, entry) == {"instruction": "only"}
    report = scan(iter([registry_row({"instruction": "only"}, "alpaca")]))
    assert report.errors == [{"row": 1, "field": "output", "message": "missing or empty"}]


def registry_row(data: dict, hint: str):
    from ftwiz.data.check import Row

    return Row({"row": 1}, data, hint=hint)


# --- which entry data.path means ---------------------------------------------------------------------------------


def test_a_folder_without_subset_lists_its_local_entries(folder: Path):
    with pytest.raises(BadInput) as info:
        rows(folder)
    message = info.value.message
    assert "LLaMA-Factory data folder" in message and "plain_alpaca, custom_alpaca" in message
    assert "on_the_hub" not in message and "not_downloaded" not in message
    assert "data.subset" in (info.value.hint or "")
    result = run_cli("data", "check", str(folder), timeout=120)
    assert result.returncode == 2 and "corpus_jsonl" in result.stderr


def test_the_registry_file_itself_and_a_listed_file_are_read_through_it(folder: Path):
    by_info = rows(folder / "dataset_info.json", "custom_alpaca")
    by_file = rows(folder / "custom.jsonl")
    assert by_info[0].data == by_file[0].data and by_file[0].hint == "alpaca" and by_file[0].data["output"] == "hello"
    assert rows(folder / "custom.jsonl", "custom_alpaca")[0].data["output"] == "hello"
    with pytest.raises(BadInput, match=r"not the entry for custom\.jsonl"):
        rows(folder / "custom.jsonl", "plain_alpaca")


def test_a_file_the_registry_does_not_list_is_detected(folder: Path):
    (row,) = rows(folder / "unlisted.jsonl")
    assert row.hint is None and row.data == {"prompt": "2+2=", "completion": "4"}
    assert check(CheckOptions(path=str(folder / "unlisted.jsonl"))).report.format == "prompt_completion"


def test_hub_missing_and_unknown_entries_are_refused(folder: Path):
    with pytest.raises(BadInput) as info:
        rows(folder, "on_the_hub")
    assert "someone/big_set" in info.value.message and "data.path: someone/big_set" in (info.value.hint or "")
    with pytest.raises(BadInput, match=r"absent\.json is not there"):
        rows(folder, "not_downloaded")
    with pytest.raises(BadInput, match="no entry 'nope'; the ones here: plain_alpaca"):
        rows(folder, "nope")


def test_a_registry_folder_is_not_a_save_to_disk_folder(folder: Path, tmp_path_factory):
    assert _datasets_folder(folder) is None
    saved = tmp_path_factory.mktemp("saved")
    (saved / "dataset_info.json").write_text(json.dumps({"features": {"text": {"dtype": "string"}}}))
    assert _datasets_folder(saved) == "disk"


def test_a_registry_entry_checks_and_trains(folder: Path):
    report = check(CheckOptions(path=str(folder), subset="custom_alpaca")).report
    assert (report.format, report.rows, report.error_count) == ("alpaca", 1, 0)
    report = check(CheckOptions(path=str(folder), subset="corpus")).report
    assert (report.format, report.rows, report.text_rule) == ("text", 3, PER_LINE)
    dataset, canonical, _ = load_rows(DataConfig(path=str(folder), subset="plain_alpaca", val_size=0))
    assert canonical == "messages" and dataset[0]["messages"][-1] == {"role": "assistant", "content": "hi"}
    result = run_cli("data", "check", str(folder), "--subset", "corpus", "--json", timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout)["rows"] == 3


def test_an_explicit_format_wins_over_the_registry(folder: Path):
    report = scan(rows_from(str(folder), subset="corpus_jsonl"), fmt="text")
    assert report.format == "text" and report.error_count == 0
