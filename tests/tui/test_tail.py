"""TextTail: the last lines of train.log once, then only what the worker appends."""

from __future__ import annotations

from ftwiz.tui import tail as tail_module
from ftwiz.tui.tail import TextTail


def test_first_read_gives_the_last_lines_then_only_new_complete_ones(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("".join(f"line {i}\n" for i in range(500)))
    tail = TextTail(log, lines=200)
    first = tail.read_new()
    assert len(first) == 200
    assert first[0] == "line 300"
    assert first[-1] == "line 499"
    assert tail.read_new() == []
    with log.open("a") as fh:
        fh.write("new 1\nnew ")  # the second line is not finished yet
    assert tail.read_new() == ["new 1"]
    with log.open("a") as fh:
        fh.write("2\n")
    assert tail.read_new() == ["new 2"]


def test_a_big_log_is_read_from_near_its_end_only(tmp_path, monkeypatch):
    monkeypatch.setattr(tail_module, "TAIL_BYTES", 100)
    log = tmp_path / "train.log"
    log.write_text("".join(f"line {i:04d}\n" for i in range(1000)))  # 10 bytes a line
    lines = TextTail(log, lines=200).read_new()
    assert lines[-1] == "line 0999"
    assert len(lines) <= 10  # never the whole file, and never a cut first line
    assert all(line.startswith("line ") and len(line) == 9 for line in lines)


def test_missing_truncated_and_undecodable_files(tmp_path):
    log = tmp_path / "train.log"
    tail = TextTail(log)
    assert tail.read_new() == []  # not there yet
    log.write_bytes(b"caf\xe9\r\nsecond\n")
    assert tail.read_new() == ["caf\ufffd", "second"]
    log.write_text("fresh\n")  # replaced by a shorter file: start over
    assert tail.read_new() == ["fresh"]
