"""`ftwiz data check`: read a data file row by row, say where every problem is, measure it. Light: no torch,
no `datasets` for local JSONL/JSON/CSV/text (pyarrow only for Parquet).

Locations: `line` (1-based) for line-oriented files (JSONL), `row` (1-based) for JSON arrays and tables (CSV:
the first data row after the header is row 1), with the file named when a folder or glob holds several.
"""

from __future__ import annotations

import csv
import glob
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ftwiz import bundled
from ftwiz.data.formats import FORMATS, detect, normalize, row_text, validate
from ftwiz.errors import BadInput

SHOWN_ERRORS = 20
CHARS_PER_TOKEN = 4.0  # without a tokenizer: an approximation, marked as such
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt", ".md")


@dataclass
class Row:
    where: dict[str, Any]  # {"line": n} or {"row": n}, plus {"file": ...} for multi-file inputs
    data: dict[str, Any] | None
    error: str | None = None


@dataclass
class Report:
    format: str | None
    rows: int = 0
    valid_rows: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    columns: list[str] = field(default_factory=list)
    token_stats: dict[str, Any] | None = None
    recommended_max_length: int | None = None
    max_length_capped_at: int | None = None  # the model's context, when p99 asked for more (the recommendation)
    loss_token_share: float | None = None
    rows_over_seq_len: int | None = None  # approximate, like token_stats, until a tokenizer measures them
    length_histogram: list[list[int]] | None = None  # [[bin upper bound in tokens, rows], ...], 12 bins to max
    labels: dict[str, int] | None = None  # unpaired feedback: {"desirable": n, "undesirable": m}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def files_of(path_text: str) -> list[Path]:
    ref = bundled.resolve(path_text, key="data.path")
    path = Path(ref).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    else:
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).suffix.lower() in SUFFIXES)
    if not found:
        raise BadInput(f"{path_text}: no such file, or no data files ({', '.join(SUFFIXES)}) there")
    return found


def read_rows(path: Path, *, name_file: bool) -> Iterator[Row]:
    """Every row of one file with where it came from; unreadable lines become error rows."""
    suffix = path.suffix.lower()
    tag = {"file": str(path)} if name_file else {}
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield Row({"line": n, **tag}, None, f"malformed JSON ({exc.msg} at column {exc.pos + 1})")
                        continue
                    yield Row(
                        {"line": n, **tag},
                        data if isinstance(data, dict) else None,
                        None if isinstance(data, dict) else "expected a JSON object",
                    )
        elif suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
            if isinstance(data, dict):  # an object holding the rows, e.g. {"data": [...]}
                data = next((v for v in data.values() if isinstance(v, list)), None)
            if not isinstance(data, list):
                raise BadInput(f"{path}: expected a JSON array of rows, or an object holding one")
            for n, item in enumerate(data, 1):
                yield Row(
                    {"row": n, **tag},
                    item if isinstance(item, dict) else None,
                    None if isinstance(item, dict) else "expected a JSON object",
                )
        elif suffix in (".csv", ".tsv"):
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                for n, item in enumerate(reader, 1):
                    yield Row({"row": n, **tag}, dict(item))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            for n, item in enumerate(pq.read_table(path).to_pylist(), 1):
                yield Row({"row": n, **tag}, item)
        else:  # .txt / .md: blank-line separated documents (one document when there is no blank line)
            docs = [d.strip() for d in path.read_text(encoding="utf-8").split("\n\n")]
            for n, doc in enumerate((d for d in docs if d), 1):
                yield Row({"row": n, **tag}, {"text": doc})
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)]


def local_rows(path_text: str) -> Iterator[Row]:
    """Rows of a local file, folder or glob (each naming its file when there are several)."""
    files = files_of(path_text)
    for file in files:
        yield from read_rows(file, name_file=len(files) > 1)


def scan(
    rows: Iterable[Row],
    *,
    fmt: str | None = None,
    columns: Mapping[str, str] | None = None,
    seq_len: int | None = None,
    max_positions: int | None = None,
    keep: list[dict[str, Any]] | None = None,
) -> Report:
    """Detect (or take) the format, validate each row, measure lengths (approximately). Valid rows, normalised,
    are appended to `keep` when given (the worker trains on exactly what was checked)."""
    if fmt is not None and fmt not in FORMATS:
        raise BadInput(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    report = Report(format=fmt)
    seen_columns: dict[str, None] = {}
    lengths: list[int] = []
    for row in rows:
        report.rows += 1
        problems: list[tuple[str | None, str]] = []
        data = row.data
        if row.error is not None or data is None:
            problems.append((None, row.error or "unreadable row"))
        else:
            if columns:
                data = {columns.get(k, k): v for k, v in data.items()}
            seen_columns.update(dict.fromkeys(data))
            report.format = report.format or detect(data)
            if report.format is None:
                problems.append((None, f"cannot tell the format from the keys {sorted(data)}"))
            else:
                problems += [(p.field, p.message) for p in validate(data, report.format)]
        if problems:
            report.error_count += len(problems)
            for fld, message in problems:
                if len(report.errors) < SHOWN_ERRORS:
                    report.errors.append({**row.where, "field": fld, "message": message})
            continue
        report.valid_rows += 1
        canonical = normalize(data, report.format)
        if keep is not None:
            keep.append(canonical)
        if "label" in canonical:
            report.labels = report.labels or {"desirable": 0, "undesirable": 0}
            report.labels["desirable" if canonical["label"] else "undesirable"] += 1
        lengths.append(math.ceil(len(row_text(canonical)) / CHARS_PER_TOKEN))
    report.columns = list(seen_columns)
    if lengths:
        lengths.sort()
        report.token_stats = {
            "p50": _percentile(lengths, 0.50),
            "p95": _percentile(lengths, 0.95),
            "p99": _percentile(lengths, 0.99),
            "max": lengths[-1],
            "total": sum(lengths),
            "approximate": True,
        }
        recommend(report, max_positions)
        if seq_len:
            report.rows_over_seq_len = sum(1 for n in lengths if n > seq_len)
        report.length_histogram = histogram(lengths)
    return report


def recommend(report: Report, context: int | None) -> Report:
    """`recommended_max_length` from the rows' p99 (a multiple of 64), never above the model's `context`: a
    longer sequence than the model was built for is not a length to train at. Says when it capped."""
    if not report.token_stats:
        return report
    wanted = max(64, 64 * math.ceil(report.token_stats["p99"] / 64))
    report.recommended_max_length = min(wanted, context) if context else wanted
    report.max_length_capped_at = context if context and wanted > context else None
    return report


def histogram(sorted_lengths: list[int], bins: int = 12) -> list[list[int]]:
    """Rows per length bin, equal-width bins from 0 to the longest row (for the wizard's chart)."""
    top = max(sorted_lengths[-1], 1)
    width = max(1, math.ceil(top / bins))
    counts = [0] * bins
    for n in sorted_lengths:
        counts[min(bins - 1, (n - 1) // width if n else 0)] += 1
    return [[width * (i + 1), c] for i, c in enumerate(counts)]


def check(path_text: str, **options: Any) -> Report:
    """`ftwiz data check` on a local file, folder or glob."""
    return scan(local_rows(path_text), **options)


def describe(error: Mapping[str, Any]) -> str:
    """`file:line 7: messages[1].role: two user turns in a row` — one problem on one line."""
    where = ":".join(
        str(x) for x in (error.get("file"), f"line {error['line']}" if "line" in error else f"row {error['row']}") if x
    )
    fld = f" {error['field']}:" if error.get("field") else ""
    return f"{where}:{fld} {error['message']}"


def measure_with_tokenizer(
    report: Report,
    rows: list[dict[str, Any]],
    tokenizer_ref: str,
    *,
    chat_template: str | None = None,
    seq_len: int | None = None,
) -> Report:
    """Exact token statistics and the share of tokens that carry loss (assistant answers / completions), with the
    model's tokenizer and chat template. Imports transformers: only for `--tokenizer`."""
    from transformers import AutoTokenizer

    from ftwiz.data.masking import conversation_mask
    from ftwiz.data.templates import ensure_chat_template
    from ftwiz.models.resolve import resolve_model

    resolved = resolve_model(tokenizer_ref)
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path) if resolved.path else tokenizer_ref)
    ensure_chat_template(tokenizer, chat_template)
    lengths, trained = [], 0
    for row in rows:
        if "messages" in row:
            enc = conversation_mask(tokenizer, row["messages"])
            n, loss = len(enc["input_ids"]), sum(enc["assistant_masks"])
        elif "completion" in row:
            prompt = len(tokenizer(row["prompt"], add_special_tokens=True)["input_ids"])
            loss = len(tokenizer(row["completion"], add_special_tokens=False)["input_ids"]) + 1  # + EOS
            n = prompt + loss
        else:
            n = loss = len(tokenizer(row.get("text") or row_text(row))["input_ids"]) + 1
        lengths.append(n)
        trained += loss
    if not lengths:
        return report
    lengths.sort()
    total = sum(lengths)
    report.token_stats = {
        "p50": _percentile(lengths, 0.50),
        "p95": _percentile(lengths, 0.95),
        "p99": _percentile(lengths, 0.99),
        "max": lengths[-1],
        "total": total,
        "approximate": False,
    }
    limit = getattr(tokenizer, "model_max_length", None)
    limit = limit if isinstance(limit, int) and limit < 10**7 else None
    recommended = 64 * math.ceil(report.token_stats["p99"] / 64)
    report.recommended_max_length = min(recommended, limit) if limit else recommended
    report.loss_token_share = trained / total
    if seq_len:
        report.rows_over_seq_len = sum(1 for n in lengths if n > seq_len)
    report.length_histogram = histogram(lengths)
    return report
