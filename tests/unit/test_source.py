"""Data from `datasets`: a hub-style folder with subsets and splits, and `save_to_disk` output, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from ftwiz.config.schema import DataConfig
from ftwiz.data.load import load_rows
from ftwiz.data.source import rows_from
from ftwiz.errors import BadInput

README = """---
configs:
- config_name: chat
  data_files:
  - split: train
    path: data/chat-train.jsonl
  - split: test
    path: data/chat-test.jsonl
- config_name: qa
  data_files:
  - split: train
    path: data/qa-train.jsonl
---
# A dataset laid out as on the hub
"""


def _chat(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"A{i}."}]}


@pytest.fixture()
def hub_folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "data/chat-train.jsonl").write_text("".join(json.dumps(_chat(i)) + "\n" for i in range(6)))
    (tmp_path / "data/chat-test.jsonl").write_text(json.dumps(_chat(99)) + "\n")
    qa = [{"question": "Capital of Peru?", "answer": "Lima."}, {"question": "2+2?", "answer": "4"}]
    (tmp_path / "data/qa-train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    return tmp_path


def test_a_subset_and_split_load_through_datasets(hub_folder: Path):
    rows, fmt, _ = load_rows(DataConfig(path=str(hub_folder), subset="qa"))
    assert fmt == "prompt_completion" and rows[0] == {"prompt": "Capital of Peru?", "completion": "Lima."}
    test = list(rows_from(str(hub_folder), subset="chat", split="test"))
    assert len(test) == 1 and test[0].data == _chat(99)


def test_a_missing_subset_names_the_available_ones(hub_folder: Path):
    with pytest.raises(BadInput, match=r"chat.*qa"):
        load_rows(DataConfig(path=str(hub_folder), subset="nope"))
    result = run_cli("data", "check", str(hub_folder), "--subset", "qa", "--split", "validation")
    assert result.returncode == 2 and "data.subset" in result.stderr


def test_save_to_disk_output_loads_by_split(tmp_path: Path):
    import datasets

    train, test = datasets.Dataset.from_list([_chat(i) for i in range(4)]), datasets.Dataset.from_list([_chat(9)])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "saved"))
    rows, fmt, _ = load_rows(DataConfig(path=str(tmp_path / "saved")))
    assert fmt == "messages" and len(rows) == 4
    with pytest.raises(BadInput, match="no split 'validation'; it has train, test"):
        load_rows(DataConfig(path=str(tmp_path / "saved"), split="validation"))


def test_data_check_reads_a_subset_as_json(hub_folder: Path):
    result = run_cli("data", "check", str(hub_folder), "--subset", "chat", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 6 and json.loads(result.stdout)["format"] == "messages"


def test_an_uncached_hub_dataset_offline_is_bad_input_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Offline, a hub id not in the datasets cache fails in seconds with a way out, not a 25 s ConnectionError."""
    import time

    monkeypatch.setattr("ftwiz.data.source.hub_reachable", lambda: False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    started = time.monotonic()
    with pytest.raises(BadInput) as caught:
        list(rows_from("nobody-here/not-a-dataset"))
    assert "cannot reach the Hugging Face hub" in str(caught.value)
    assert "tiny-demo" in (caught.value.hint or "")
    assert time.monotonic() - started < 15
