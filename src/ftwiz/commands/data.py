"""`ftwiz data check`: a dataset's format, every row's problems (file:line), and its lengths."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwiz import bundled
from ftwiz.config.schema import RunConfig
from ftwiz.data.check import CHARS_PER_TOKEN, SUFFIXES, Report, Row, measure_with_tokenizer, recommend, scan
from ftwiz.data.source import rows_from
from ftwiz.models.resolve import resolve_model
from ftwiz.models.spec import context_length


@dataclass(frozen=True)
class CheckOptions:
    path: str
    """A file, folder or glob, or a hub dataset."""
    subset: str | None = None
    split: str = "train"
    format: str | None = None
    """Skip detection: one of ftwiz.data.formats.FORMATS."""
    tokenizer: str | None = None
    """The model whose tokenizer and chat template measure tokens (else about 4 characters a token)."""
    seq_len: int | None = None
    """Count the rows longer than this many tokens."""
    model: str | None = None
    """The model to train (its config only): the recommendation is capped at its context. Defaults to
    `tokenizer`'s model."""


@dataclass
class CheckResult:
    report: Report
    rows: list[dict[str, Any]] = field(default_factory=list)  # the rows read, for previews

    @property
    def ok(self) -> bool:
        return not self.report.error_count


def check(options: CheckOptions) -> CheckResult:
    rows = _KeptRows()
    source = rows_from(options.path, subset=options.subset, split=options.split)
    report = scan(rows.tracking(source), fmt=options.format, seq_len=options.seq_len, keep=rows)
    if options.tokenizer:
        measure_with_tokenizer(report, rows, options.tokenizer, seq_len=options.seq_len, wheres=rows.wheres)
    if options.model or options.tokenizer:
        context = model_context(options.model or options.tokenizer or "")
        if context is not None:  # else the tokenizer's own model_max_length cap (measure_with_tokenizer) stands
            recommend(report, context)
    return CheckResult(report, list(rows))


class _KeptRows(list):
    """`scan`'s `keep` list that also records where each kept row came from (scan appends a row while it holds
    it, before it asks for the next), so that the tokenizer's per-row problems name their file:line too."""

    def __init__(self) -> None:
        super().__init__()
        self.wheres: list[dict[str, Any]] = []
        self._current: dict[str, Any] = {}

    def tracking(self, source: Iterable[Row]) -> Iterator[Row]:
        for row in source:
            self._current = row.where
            yield row

    def append(self, item: dict[str, Any]) -> None:
        super().append(item)
        self.wheres.append(self._current)


def model_context(ref: str, *, trust_remote_code: bool = False) -> int | None:
    """The model's context in tokens, from its config.json (local, bundled, cached, catalog or hub: config only,
    no weights, no torch); None when the config does not say."""
    return context_length(resolve_model(ref, trust_remote_code=trust_remote_code).config)


def scan_config(config: RunConfig, keep: list[dict[str, Any]] | None = None) -> Report | None:
    """The checker's report on a run's data as it will train (its format, columns, subset and split), or None
    when the data is not on this machine (a hub dataset: counting it would mean downloading it)."""
    path = local_data_path(config)
    if path is None:
        return None
    fmt = None if config.data.format == "auto" else config.data.format
    limit = config.data.max_row_bytes
    rows = rows_from(str(path), subset=config.data.subset, split=config.data.split, max_row_bytes=limit)
    return scan(rows, fmt=fmt, columns=config.data.columns, max_row_bytes=limit, keep=keep)


def local_data_path(config: RunConfig) -> Path | None:
    """data.path on this machine (bundled demo data resolved), None when it names no local file or folder."""
    path = Path(bundled.resolve(config.data.path, key="data.path")).expanduser()
    return path if path.exists() else None


def looks_local(ref: str) -> bool:
    """A data.path that can only mean a file here (a hub id has neither a leading ./ / ~ nor a data suffix)."""
    return ref.startswith((".", "/", "~")) or Path(ref).suffix.lower() in SUFFIXES


@dataclass(frozen=True)
class AnswerFit:
    """How many rows would lose their whole answer at `max_length`: every trained token (assistant turns,
    completions) lies beyond it, so truncation leaves nothing to learn and TRL drops the row."""

    max_length: int
    rows: int
    """Rows with an answer (text rows train from their first token: none to lose, not counted)."""
    losing: int
    approximate: bool
    """Positions from characters / 4 (no tokenizer at hand), not from the model's tokenizer."""
    suggested: int
    """The shortest length (a multiple of 64) at which at most 1% of rows lose their answer."""

    @property
    def share(self) -> float:
        return self.losing / self.rows if self.rows else 0.0


LOSING_SHARE_ALLOWED = 0.01  # the launch refuses above this share (unless data.on_error: skip)


def answer_starts(rows: Iterable[dict[str, Any]], tokenizer: Any = None) -> list[int]:
    """The position of each row's first trained token, with the model's tokenizer and template when given
    (the same masks the worker trains with), else about 4 characters a token. Rows with no trained token, and
    rows the template cannot render, are left out: `data check --tokenizer` reports those."""
    starts = []
    for row in rows:
        try:
            start = first_trained_token(row, tokenizer) if tokenizer is not None else approximate_start(row)
        except Exception:  # a template error is that row's problem, reported by the checker, not a count here
            continue
        if start is not None:
            starts.append(start)
    return starts


def first_trained_token(row: dict[str, Any], tokenizer: Any) -> int | None:
    """Where training starts in one canonical row, in the model's tokens (None: nothing trained, or a text row,
    which trains from its first token and has no answer to lose)."""
    from ftwiz.data.masking import conversation_mask

    if "messages" in row:
        mask = conversation_mask(tokenizer, row["messages"])["assistant_masks"]
        return mask.index(1) if 1 in mask else None
    if "completion" in row:
        prompt = row["prompt"]
        if isinstance(prompt, list):  # a conversational prompt: rendered up to the generation prompt
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return len(tokenizer(prompt)["input_ids"])
    return None  # text trains from its first token: no answer to lose


def approximate_start(row: dict[str, Any]) -> int | None:
    """`first_trained_token` without a tokenizer: the characters before the first trained answer / 4."""
    if "messages" in row:
        before = 0
        for turn in row["messages"]:
            if turn["role"] == "assistant" and turn.get("train") is not False:
                return math.ceil(before / CHARS_PER_TOKEN)
            before += len(str(turn.get("content") or "")) + len(turn["role"]) + 2
        return None
    if "completion" in row:
        prompt = row["prompt"]
        text = "\n".join(str(t.get("content") or "") for t in prompt) if isinstance(prompt, list) else str(prompt)
        return math.ceil(len(text) / CHARS_PER_TOKEN)
    return None


def answer_fit(starts: list[int], max_length: int, *, approximate: bool) -> AnswerFit:
    """`starts` (from answer_starts) judged at `max_length`: a row loses its answer when its first trained
    token lies at or beyond max_length."""
    ordered = sorted(starts)
    keep = ordered[max(0, math.ceil(len(ordered) * (1 - LOSING_SHARE_ALLOWED)) - 1)] + 1 if ordered else 1
    return AnswerFit(
        max_length=max_length,
        rows=len(ordered),
        losing=sum(1 for s in ordered if s >= max_length),
        approximate=approximate,
        suggested=64 * math.ceil(keep / 64),
    )


def answers_matter(config: RunConfig) -> bool:
    """Only an answers-only SFT run can lose a row's whole answer to truncation (cpt and train_on: all train on
    every token; the preference trainers handle their own prompts)."""
    return config.method == "sft" and config.data.train_on == "assistant"


TEMPLATE_ALLOWANCE = 512  # tokens a chat template may add around a conversation (system header, BOS) ...
TURN_ALLOWANCE = 32  # ... and around each turn (role markers, end-of-turn)


def could_lose_answers(rows: Iterable[dict[str, Any]], max_length: int) -> bool:
    """False when no row can reach `max_length` before its answer, by a generous bound that needs no tokenizer:
    a token covers at least one byte (byte-level BPE, SentencePiece with byte fallback), and a row's JSON has at
    least as many bytes as its text, plus allowances for what the template adds. Spares the launch importing
    transformers (seconds) when max_length is comfortably long."""
    for row in rows:
        turns = len(row.get("messages") or ())
        if len(json.dumps(row, default=str)) + TEMPLATE_ALLOWANCE + TURN_ALLOWANCE * turns >= max_length:
            return True
    return False


def config_answer_fit(config: RunConfig, rows: list[dict[str, Any]]) -> AnswerFit | None:
    """Rows losing their answer at `data.max_length`, measured with the model's own tokenizer when it is at hand
    (a local, bundled or cached model), else None: the launch never downloads a tokenizer to check. None too
    when no row can be that long (could_lose_answers)."""
    if not rows or not answers_matter(config) or not could_lose_answers(rows, config.data.max_length):
        return None
    from ftwiz.data.preview import load_tokenizer

    try:
        tokenizer, _ = load_tokenizer(config.model.id, config.data.chat_template, config.model.trust_remote_code)
    except Exception:  # a tokenizer that does not load fails the worker with its own message; no count here
        return None
    if tokenizer is None:
        return None
    return answer_fit(answer_starts(rows, tokenizer), config.data.max_length, approximate=False)


@dataclass(frozen=True)
class LengthAdvice:
    """The wizard's max-length advice for one dataset and model: the lengths (exact with the model's tokenizer,
    else characters / 4), the recommendation capped at the model's context, and where each row's answer starts
    (so the rows losing their answer can be counted at any length before the user accepts one)."""

    report: Report
    starts: list[int]
    answers: bool
    """An answers-only SFT run: rows can lose their answer to truncation."""
    source: str
    """Where the numbers come from, for the screen."""
    context: int | None = None
    """The model's context (tokens): no max_length beyond it trains (the launch refuses it)."""

    @property
    def approximate(self) -> bool:
        return bool((self.report.token_stats or {}).get("approximate", True))

    def fit(self, max_length: int) -> AnswerFit | None:
        """Rows losing their answer at `max_length` (None: no row can, e.g. cpt or train_on: all)."""
        if not self.answers or not self.starts:
            return None
        return answer_fit(self.starts, max_length, approximate=self.approximate)


def advise_length(
    report: Report,
    rows: list[dict[str, Any]],
    *,
    model_ref: str,
    tokenizer: Any,
    context: int | None,
    answers: bool,
    chat_template: str | None = None,
) -> LengthAdvice:
    """Measure `rows` with the model's `tokenizer` when it is at hand (None: characters / 4, marked approximate)
    and recommend a max_length no longer than `context`. `report` (the scan's) is left as it was: the screen
    may be showing it. Loads transformers when a tokenizer is given: call from a worker thread."""
    measured = copy.deepcopy(report)
    if tokenizer is not None:
        measure_with_tokenizer(measured, rows, model_ref, chat_template=chat_template)
    recommend(measured, context)
    starts = answer_starts(rows, tokenizer) if answers else []
    source = "measured with the model's tokenizer" if tokenizer is not None else "characters / 4: no tokenizer here"
    return LengthAdvice(measured, starts, answers, source, context)
