"""`ftwiz data check`: a dataset's format, every row's problems (file:line), and its lengths."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwiz import bundled
from ftwiz.config.schema import RunConfig
from ftwiz.data.check import SUFFIXES, Report, Row, measure_with_tokenizer, scan
from ftwiz.data.source import rows_from


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


def scan_config(config: RunConfig) -> Report | None:
    """The checker's report on a run's data as it will train (its format, columns, subset and split), or None
    when the data is not on this machine (a hub dataset: counting it would mean downloading it)."""
    path = local_data_path(config)
    if path is None:
        return None
    fmt = None if config.data.format == "auto" else config.data.format
    limit = config.data.max_row_bytes
    rows = rows_from(str(path), subset=config.data.subset, split=config.data.split, max_row_bytes=limit)
    return scan(rows, fmt=fmt, columns=config.data.columns, max_row_bytes=limit)


def local_data_path(config: RunConfig) -> Path | None:
    """data.path on this machine (bundled demo data resolved), None when it names no local file or folder."""
    path = Path(bundled.resolve(config.data.path, key="data.path")).expanduser()
    return path if path.exists() else None


def looks_local(ref: str) -> bool:
    """A data.path that can only mean a file here (a hub id has neither a leading ./ / ~ nor a data suffix)."""
    return ref.startswith((".", "/", "~")) or Path(ref).suffix.lower() in SUFFIXES
