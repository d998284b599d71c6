"""Files that are not what they seem: byte-order marks, empty files, FIFOs and devices, huge rows, text corpora
with and without blank lines, a JSON object that is one row, folders and globs with files that are not data, and
folders mixing formats."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_cli
from ftwiz.config.schema import DataConfig
from ftwiz.data.check import BLANK_SEPARATED, PER_LINE, check, local_rows
from ftwiz.data.load import load_rows
from ftwiz.errors import BadInput
from ftwiz.views import print_data_report

BOM = "\ufeff"


def chat(i: int = 0) -> dict:
    return {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"A{i}."}]}


def sharegpt(i: int = 0) -> dict:
    return {"conversations": [{"from": "human", "value": f"Q{i}?"}, {"from": "gpt", "value": f"A{i}."}]}


def write_jsonl(path: Path, rows: list[dict], prefix: str = "") -> Path:
    path.write_text(prefix + "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- byte-order marks -------------------------------------------------------------------------------------------


def test_a_utf8_bom_is_accepted_in_every_text_format(tmp_path: Path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", [chat(1), chat(2)], prefix=BOM)
    (tmp_path / "b.json").write_text(BOM + json.dumps([chat(1)]), encoding="utf-8")
    (tmp_path / "c.csv").write_text(BOM + "instruction,input,output\nSay hi,,hi\n", encoding="utf-8")
    (tmp_path / "d.txt").write_text(BOM + "first document\nsecond document\n", encoding="utf-8")
    for name, fmt, rows in (("a.jsonl", "messages", 2), ("b.json", "messages", 1), ("c.csv", "alpaca", 1)):
        report = check(str(tmp_path / name))
        assert (report.format, report.rows, report.error_count) == (fmt, rows, 0), name
    assert check(str(tmp_path / "c.csv")).columns == ["instruction", "input", "output"]  # not "\ufeffinstruction"
    texts = [row.data["text"] for row in local_rows(str(tmp_path / "d.txt"))]
    assert texts == ["first document", "second document"]
    assert check(str(jsonl)).errors == []


# --- empty files, FIFOs, devices, sockets -------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "   \n\n\t\n", BOM + "\n"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".txt"])
def test_an_empty_or_blank_file_is_refused_by_name(tmp_path: Path, suffix: str, content: str):
    path = tmp_path / f"empty{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput, match=r"empty|only whitespace") as info:
        check(str(path))
    assert str(path) in info.value.message and info.value.hint


def test_a_file_without_rows_is_refused(tmp_path: Path):
    (tmp_path / "none.json").write_text("[]")
    (tmp_path / "header.csv").write_text("instruction,output\n")
    for name in ("none.json", "header.csv"):
        with pytest.raises(BadInput, match="holds no rows"):
            check(str(tmp_path / name))


def test_data_check_exits_2_on_an_empty_file(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = run_cli("data", "check", str(tmp_path / "empty.jsonl"), timeout=120)
    assert result.returncode == 2 and "empty (0 bytes)" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path):
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="FIFO") as info:
        check(str(fifo))  # opening it would block until a writer came
    assert "Write the rows to a file" in (info.value.hint or "")
    result = run_cli("data", "check", str(fifo), timeout=60)  # the whole command, not only the function
    assert result.returncode == 2 and "FIFO" in result.stderr


def test_a_fifo_in_a_folder_is_named_too(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    write_jsonl(tmp_path / "a.jsonl", [chat()])
    os.mkfifo(tmp_path / "b.jsonl")
    with pytest.raises(BadInput, match=r"b\.jsonl: a FIFO"):
        check(str(tmp_path))


def test_devices_and_sockets_are_refused(tmp_path: Path):
    with pytest.raises(BadInput, match="character device"):
        check("/dev/null")
    short = Path("/tmp") / f"ftwiz-{os.getpid()}.jsonl"  # AF_UNIX paths are limited to ~100 bytes
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(short))
        with pytest.raises(BadInput, match="socket"):
            check(str(short))
    finally:
        server.close()
        short.unlink(missing_ok=True)


# --- the row size limit ------------------------------------------------------------------------------------------


def test_a_row_over_the_limit_is_that_rows_problem(tmp_path: Path):
    big = {"messages": [{"role": "user", "content": "x" * 5000}, {"role": "assistant", "content": "ok"}]}
    path = write_jsonl(tmp_path / "rows.jsonl", [chat(1), big, chat(3)])
    report = check(str(path), max_row_bytes=2000)
    assert (report.rows, report.valid_rows) == (3, 2)
    (error,) = report.errors
    assert error["line"] == 2 and error["field"] is None
    assert "5,0" in error["message"] and "2,000" in error["message"] and "set data.max_row_bytes" in error["message"]
    assert check(str(path)).errors == []  # 1 MB by default


def test_the_limit_applies_to_json_csv_and_text_rows_too(tmp_path: Path):
    (tmp_path / "a.json").write_text(json.dumps([{"text": "short"}, {"text": "y" * 3000}]))
    report = check(str(tmp_path / "a.json"), max_row_bytes=1000)
    assert [e["row"] for e in report.errors] == [2] and "3,000 bytes" in report.errors[0]["message"]
    (tmp_path / "b.txt").write_text("short line\n" + "z" * 3000 + "\n")
    assert [e["line"] for e in check(str(tmp_path / "b.txt"), max_row_bytes=1000).errors] == [2]
    (tmp_path / "c.csv").write_text(f"prompt,completion\nhi,{'w' * 200_000}\n")  # over csv's own 128 KiB field limit
    report = check(str(tmp_path / "c.csv"), max_row_bytes=100_000)
    assert report.errors[0]["row"] == 1 and "over the limit of 100,000" in report.errors[0]["message"]
    assert check(str(tmp_path / "c.csv")).errors == []  # under 1 MB: read, not a csv.Error
    assert csv.field_size_limit() >= 1_000_000


def test_data_max_row_bytes_is_a_config_key_the_loader_applies(tmp_path: Path):
    assert DataConfig(path="x.jsonl").max_row_bytes == 1_000_000
    assert "bytes of text is refused" in (DataConfig.model_fields["max_row_bytes"].description or "")
    rows = [chat(i) for i in range(5)] + [
        {"messages": [*chat()["messages"][:1], {"role": "assistant", "content": "v" * 900}]}
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(BadInput, match=r"line 6: the row is .* over the limit of 500"):
        load_rows(DataConfig(path=str(path), max_row_bytes=500))
    dataset, _, decisions = load_rows(DataConfig(path=str(path), max_row_bytes=500, on_error="skip"))
    assert len(dataset) == 5 and "dropped 1 of 6" in decisions[0]


# --- text corpora ------------------------------------------------------------------------------------------------


def test_text_without_blank_lines_is_one_document_per_line(tmp_path: Path):
    path = tmp_path / "wiki.txt"
    path.write_text("".join(f"Document {i} on one line, long enough.\n" for i in range(30)))
    report = check(str(path))
    assert (report.format, report.rows, report.text_rule) == ("text", 30, PER_LINE)
    assert report.to_dict()["text_rule"] == "one document per line"
    assert report.token_stats["max"] < 20  # never one huge row


def test_text_with_blank_lines_is_documents_separated_by_them(tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text("\n\n# One\nline a\nline b\n\n  \n\nTwo\n\n\n")  # leading/trailing blank lines do not count
    rows = list(local_rows(str(path)))
    assert [r.data["text"] for r in rows] == ["# One\nline a\nline b", "Two"]
    assert check(str(path)).text_rule == BLANK_SEPARATED
    (tmp_path / "one.txt").write_text("\n\nonly line\n\n")
    assert check(str(tmp_path / "one.txt")).text_rule == PER_LINE


def test_the_text_rule_is_printed(tmp_path: Path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    out = io.StringIO()
    print_data_report("a.txt", check(str(tmp_path / "a.txt")), Console(file=out, width=200))
    assert "text files: one document per line" in out.getvalue()
    result = run_cli("data", "check", str(tmp_path / "a.txt"), "--json", timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout)["text_rule"] == PER_LINE


# --- a JSON object that is one row -------------------------------------------------------------------------------


@pytest.mark.parametrize("row", [sharegpt(), chat(), {"instruction": "Say hi", "input": "", "output": "hi"}])
def test_a_json_object_that_is_a_row_is_one_row(tmp_path: Path, row: dict):
    (tmp_path / "one.json").write_text(json.dumps(row, indent=2))
    report = check(str(tmp_path / "one.json"))
    assert (report.rows, report.valid_rows, report.error_count) == (1, 1, 0)


def test_a_wrapper_of_one_list_of_rows_still_works(tmp_path: Path):
    (tmp_path / "w.json").write_text(json.dumps({"version": "1.0", "tags": ["a"], "data": [chat(1), chat(2)]}))
    assert check(str(tmp_path / "w.json")).rows == 2
    (tmp_path / "two.json").write_text(json.dumps({"train": [chat(1)], "test": [chat(2)]}))
    with pytest.raises(BadInput, match=r"two\.json: a JSON object, not rows \(keys: test, train\)"):
        check(str(tmp_path / "two.json"))
    (tmp_path / "strings.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(BadInput, match="array of str"):
        check(str(tmp_path / "strings.json"))


# --- folders and globs -------------------------------------------------------------------------------------------

REGISTRY = {"demo": {"file_name": "a.jsonl"}}


def test_a_folder_skips_and_reports_files_that_are_not_data(tmp_path: Path):
    write_jsonl(tmp_path / "a.jsonl", [chat(1)])
    (tmp_path / "b.json").write_text(json.dumps([chat(2), chat(3)]))
    (tmp_path / "package.json").write_text(json.dumps({"name": "x", "version": "1.0", "scripts": {"t": "y"}}))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"hf_hub_url": "someone/set"}}))
    (tmp_path / "README.md").write_text("# About\n\nThese are chats.\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "junk.jsonl").write_text("not json\n")  # hidden: not looked at
    report = check(str(tmp_path))
    assert (report.rows, report.valid_rows, report.error_count) == (3, 3, 0)
    skipped = {Path(s.split(" (")[0]).name: s for s in report.skipped_files}
    assert set(skipped) == {"package.json", "dataset_info.json", "README.md"}
    assert "LLaMA-Factory's dataset registry" in skipped["dataset_info.json"]
    assert "text beside structured data files" in skipped["README.md"]
    out = io.StringIO()
    print_data_report(str(tmp_path), report, Console(file=out, width=300))
    assert "skipped, not data:" in out.getvalue() and "package.json" in out.getvalue()


def test_a_glob_goes_past_a_json_file_that_is_not_data(tmp_path: Path):
    (tmp_path / "0-meta.json").write_text(json.dumps({"name": "x", "count": 3}))
    (tmp_path / "1-rows.json").write_text(json.dumps([chat(1), chat(2)]))
    report = check(str(tmp_path / "*.json"))
    assert report.rows == 2 and len(report.skipped_files) == 1 and "0-meta.json" in report.skipped_files[0]
    with pytest.raises(BadInput, match="matches no data files"):
        check(str(tmp_path / "*.parquet"))


def test_a_folder_without_data_files_is_refused_by_name(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match=rf"{empty}: a folder with no data files"):
        check(str(empty))
    only_meta = tmp_path / "meta"
    only_meta.mkdir()
    (only_meta / "package.json").write_text(json.dumps({"name": "x"}))
    (only_meta / "notes.yaml").write_text("a: 1\n")
    with pytest.raises(BadInput, match=rf"{only_meta}: no data files there; skipped: .*package.json"):
        check(str(only_meta))
    with pytest.raises(BadInput, match="no such file or folder"):
        check(str(tmp_path / "missing"))


def test_each_file_of_a_folder_gets_its_own_format(tmp_path: Path):
    write_jsonl(tmp_path / "a.jsonl", [chat(1), chat(2)])
    (tmp_path / "b.json").write_text(json.dumps([{"instruction": "Say hi", "input": "", "output": "hi"}]))
    (tmp_path / "c.json").write_text(json.dumps(sharegpt(3)))
    report = check(str(tmp_path))
    assert (report.rows, report.error_count, report.format) == (4, 0, "messages")
    assert report.formats == {
        str(tmp_path / "a.jsonl"): "messages",
        str(tmp_path / "b.json"): "alpaca",
        str(tmp_path / "c.json"): "sharegpt",
    }
    assert check(str(tmp_path / "a.jsonl")).formats == {}  # one file: `format` says it all
    out = io.StringIO()
    print_data_report(str(tmp_path), report, Console(file=out, width=300))
    assert f"{tmp_path / 'b.json'} alpaca" in out.getvalue()
    dataset, canonical, _ = load_rows(DataConfig(path=str(tmp_path), val_size=0))
    assert canonical == "messages" and len(dataset) == 4


def test_files_that_cannot_train_together_are_refused_naming_both(tmp_path: Path):
    write_jsonl(tmp_path / "a.jsonl", [chat(1)])
    write_jsonl(tmp_path / "b.jsonl", [{"prompt": "2+2=", "completion": "4"}])
    with pytest.raises(BadInput) as info:
        check(str(tmp_path))
    message = info.value.message
    assert "a.jsonl holds messages rows" in message and "b.jsonl holds prompt_completion rows" in message
    assert "cannot train together" in message


def test_an_explicit_format_still_applies_to_every_file(tmp_path: Path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "doc one"}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": "doc two", "prompt": "p", "completion": "c"}])
    report = check(str(tmp_path), fmt="text")
    assert report.error_count == 0 and set(report.formats.values()) == {"text"}
