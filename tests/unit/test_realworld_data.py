"""`ftwiz data check` over every file of the shared corpus of real dataset files (`../shared/realworld/data/`,
see its SOURCES.md): each gets its right format and row count with no false alarm; the planted problem of
axolotl/conversation.missingturns.json is found; the multimodal file is refused naming its images.

LLaMA-Factory's files are checked twice: through their folder's registry (data.path = the folder, data.subset =
the entry) and by their own path (a file the registry lists is read through it; the others are detected).
Skipped where the corpus is absent (it lives beside the repository, not in it).

`covers` names what a file exercises beyond plain chats: tool roles and a `tools` column, content parts, ranking
turns, KTO labels, v1 chosen_messages; the multimodal file checks that media columns are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ftwiz.commands.data import CheckOptions, check
from ftwiz.data.check import PER_LINE, Report
from ftwiz.errors import BadInput

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "realworld" / "data"
if not CORPUS.is_dir():
    pytest.skip(f"no shared corpus at {CORPUS}", allow_module_level=True)

LLAMAFACTORY = CORPUS / "llamafactory"
NOT_DATA = {"SOURCES.md", "dataset_info.json"}


@dataclass(frozen=True)
class Expect:
    format: str
    rows: int
    entry: str | None = None  # its dataset_info.json entry, when the registry lists it
    covers: str | None = None  # what the file exercises beyond plain chats
    labels: dict[str, int] | None = None
    text_rule: str | None = None
    tools: int = 0  # how many kept rows carry tool schemas (rows whose `tools` is "[]" have none)


EXPECTED = {
    "axolotl/alpaca.json": Expect("alpaca", 2),
    "axolotl/conversation.json": Expect("sharegpt", 1),  # ONE conversation as a bare object: one row
    "fastchat/dummy_conversation.json": Expect("sharegpt", 500),
    "llamafactory/alpaca_en_demo.json": Expect("alpaca", 999, "alpaca_en_demo"),  # SOURCES.md says 1000
    "llamafactory/alpaca_zh_demo.json": Expect("alpaca", 1000, "alpaca_zh_demo"),
    "llamafactory/identity.json": Expect("alpaca", 91, "identity"),
    "llamafactory/c4_demo.jsonl": Expect("text", 300, "c4_demo"),
    "llamafactory/wiki_demo.txt": Expect("text", 30, "wiki_demo", text_rule=PER_LINE),
    "llamafactory/glaive_toolcall_en_demo.json": Expect(
        "sharegpt", 300, "glaive_toolcall_en_demo", covers="function_call/observation roles, tools", tools=191
    ),
    "llamafactory/dpo_en_demo.json": Expect("preference", 300, "dpo_en_demo", covers="ranking {from, value} turns"),
    "llamafactory/kto_en_demo.json": Expect(
        "unpaired_preference",
        300,
        "kto_en_demo",
        covers="label beside conversations",
        labels={"desirable": 150, "undesirable": 150},
    ),
    "llamafactory/reason_tool_use_demo_50.jsonl": Expect(
        "messages", 50, covers="v1 content parts (text/reasoning/tool_call), tools", tools=48
    ),
    "llamafactory/v1_sft_demo.jsonl": Expect("messages", 500, covers="v1 content parts, loss_weight"),
    "llamafactory/v1_dpo_demo.jsonl": Expect("preference", 10, covers="v1 chosen_messages/rejected_messages"),
}
PLANTED = "axolotl/conversation.missingturns.json"
MULTIMODAL = "llamafactory/mllm_demo.json"


def corpus_files() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_DATA)


def test_every_corpus_file_has_an_expectation():
    assert set(corpus_files()) - {PLANTED, MULTIMODAL} == set(EXPECTED)


def _assert_clean(report: Report, expect: Expect, rows: list[dict], how: str) -> None:
    assert report.format == expect.format, how
    assert (report.rows, report.valid_rows) == (expect.rows, expect.rows), how
    assert report.error_count == 0, f"{how}: {report.errors[:3]}"
    if expect.labels is not None:
        assert report.labels == expect.labels, how
    if expect.text_rule is not None:
        assert report.text_rule == expect.text_rule, how
    if expect.tools:
        assert sum("tools" in row for row in rows) == expect.tools, f"{how}: the tool schemas were dropped"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_file_checks_clean_by_its_path(name: str):
    result = check(CheckOptions(path=str(CORPUS / name)))
    _assert_clean(result.report, EXPECTED[name], result.rows, f"{name} by path")


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.entry))
def test_a_registry_entry_checks_clean_through_its_folder(name: str):
    expect = EXPECTED[name]
    result = check(CheckOptions(path=str(LLAMAFACTORY), subset=expect.entry))
    _assert_clean(result.report, expect, result.rows, f"{LLAMAFACTORY} --subset {expect.entry}")


def test_the_planted_problem_is_found_and_only_it():
    report = check(CheckOptions(path=str(CORPUS / PLANTED))).report
    assert (report.format, report.rows, report.valid_rows, report.error_count) == ("sharegpt", 1, 0, 1)
    (error,) = report.errors
    assert error["row"] == 1 and error["field"] == "conversations[1].value" and "empty" in error["message"]


@pytest.mark.parametrize("subset", [None, "mllm_demo"])
def test_the_multimodal_file_is_refused_naming_its_images(subset: str | None):
    """Media columns are refused by formats.validate, naming the column."""
    path = LLAMAFACTORY if subset else CORPUS / MULTIMODAL
    try:
        report = check(CheckOptions(path=str(path), subset=subset)).report
    except BadInput as exc:
        assert "images" in str(exc)
        return
    assert report.error_count > 0
    assert all("images" in f"{e.get('field')} {e['message']}" for e in report.errors)


def test_the_llamafactory_folder_needs_a_subset():
    with pytest.raises(BadInput) as info:
        check(CheckOptions(path=str(LLAMAFACTORY)))
    listed = info.value.message.rsplit("Here: ", 1)[-1].split(", ")
    assert "glaive_toolcall_en_demo" in listed and "alpaca_en" not in listed  # a hub entry: not here
    with pytest.raises(BadInput, match=r"data\.subset names the dataset"):
        check(CheckOptions(path=str(LLAMAFACTORY / "dataset_info.json")))
