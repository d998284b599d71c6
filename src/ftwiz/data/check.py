"""`ftwiz data check`: read a data file row by row, say where every problem is, measure it. Light: no torch,
no `datasets` for local JSONL/JSON/CSV/text (pyarrow only for Parquet).

Locations: `line` (1-based) for line-oriented files (JSONL), `row` (1-based) for JSON arrays and tables (CSV:
the first data row after the header is row 1), with the file named when a folder or glob holds several.
"""

from __future__ import annotations

import codecs
import csv
import glob
import json
import math
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ftwiz import bundled
from ftwiz.data import registry
from ftwiz.data.formats import FORMATS, detect, normalize, row_text, validate
from ftwiz.errors import BadInput

SHOWN_ERRORS = 20
CHARS_PER_TOKEN = 4.0  # without a tokenizer: an approximation, marked as such
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt", ".md")
TEXT_SUFFIXES = (".txt", ".md")
MAX_ROW_BYTES = 1_000_000  # DataConfig.max_row_bytes's default
PER_LINE = "one document per line"
BLANK_SEPARATED = "documents separated by blank lines"
ROW_KEYS = frozenset(  # a JSON object with one of these keys is a row itself, never a wrapper of rows
    {
        "messages",
        "conversations",
        "chosen_messages",
        "rejected_messages",
        "instruction",
        "output",
        "prompt",
        "completion",
        "question",
        "answer",
        "text",
        "chosen",
        "rejected",
        "label",
    }
)
_NOT_FILES = {stat.S_IFIFO: "FIFO (named pipe)", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}
_NOT_FILES |= {stat.S_IFSOCK: "socket", stat.S_IFDIR: "folder"}


class NotData(BadInput):
    """A file that holds no rows (LLaMA-Factory's registry, a package.json): skipped and reported in a folder or
    glob, refused when data.path names it."""

    def __init__(self, path: Path, why: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {why}", hint=hint)
        self.why = why


@dataclass
class Row:
    where: dict[str, Any]  # {"line": n} or {"row": n}, plus {"file": ...} for multi-file inputs
    data: dict[str, Any] | None
    error: str | None = None
    hint: str | None = None  # the format the source declares (a LLaMA-Factory registry entry); else detected
    text_rule: str | None = None  # how a .txt/.md file was cut into documents (PER_LINE or BLANK_SEPARATED)
    skipped: str | None = None  # no row: a file of a folder or glob that is not data, and why


@dataclass
class Report:
    format: str | None  # the first file's (see `formats` for each file of a folder or glob)
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
    text_rule: str | None = None  # how text files became documents: PER_LINE or BLANK_SEPARATED
    skipped_files: list[str] = field(default_factory=list)  # "path (why)": files of a folder/glob that are not data
    formats: dict[str, str] = field(default_factory=dict)  # file -> format, when several files were read
    rows_losing_answer: int | None = None  # with a tokenizer and seq_len: rows with no trained token within it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def files_of(path_text: str) -> list[Path]:
    """The data files a data.path names: the file, every data file under a folder (hidden ones left out), or a
    glob's matches. Anything that is not a folder is kept, so a FIFO is refused by name rather than passed over."""
    ref = bundled.resolve(path_text, key="data.path")
    path = Path(ref).expanduser()
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in SUFFIXES
            and not p.is_dir()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            raise BadInput(
                f"{path_text}: a folder with no data files ({', '.join(SUFFIXES)})",
                hint="Point data.path at the folder that holds the rows, or at one file.",
            )
        return found
    if path.exists():
        return [path]
    if not any(c in ref for c in "*?["):
        raise BadInput(f"{path_text}: no such file or folder")
    found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).suffix.lower() in SUFFIXES)
    found = [p for p in found if not p.is_dir()]
    if not found:
        raise BadInput(f"{path_text}: the pattern matches no data files ({', '.join(SUFFIXES)})")
    return found


def _check_readable(path: Path) -> None:
    """Refuse what cannot be data before opening it: opening a FIFO blocks until a writer comes, a device never
    ends, and an empty file would pass the check only to fail in the worker."""
    try:
        info = path.stat()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = _NOT_FILES.get(stat.S_IFMT(info.st_mode), "special file")
        raise BadInput(
            f"{path}: a {kind}, not a regular file; ftwiz reads its data from files",
            hint="Write the rows to a file and point data.path at it.",
        )
    if info.st_size == 0:
        raise _empty(path, "is empty (0 bytes)")
    if path.suffix.lower() != ".parquet" and _blank(path):
        raise _empty(path, "holds only whitespace")


def _blank(path: Path, chunk: int = 1 << 16) -> bool:
    """Whitespace (and a byte-order mark) only: read until the first other byte, which is almost always at once."""
    with path.open("rb") as fh:
        head = fh.read(chunk).removeprefix(codecs.BOM_UTF8)
        while head:
            if head.strip():
                return False
            head = fh.read(chunk)
    return True


def _empty(path: Path, what: str) -> BadInput:
    return BadInput(
        f"{path}: {what}: no rows to train on",
        hint="Point data.path at the file that holds the rows (or remove this one from the folder).",
    )


def oversize(size: int, limit: int) -> str:
    """A row's problem when it holds more text than data.max_row_bytes."""
    return f"the row is {size:,} bytes of text, over the limit of {limit:,}: split it, or set data.max_row_bytes"


def read_rows(
    path: Path, *, name_file: bool, max_row_bytes: int = MAX_ROW_BYTES, text_rule: str | None = None
) -> Iterator[Row]:
    """Every row of one file with where it came from; unreadable lines become error rows. A UTF-8 byte-order
    mark is accepted. `text_rule` forces how a .txt/.md file splits (else: PER_LINE unless it has blank lines)."""
    _check_readable(path)
    suffix = path.suffix.lower()
    tag = {"file": str(path)} if name_file else {}
    if suffix == ".jsonl":
        rows = _jsonl_rows(path, tag, max_row_bytes)
    elif suffix == ".json":
        rows = _json_rows(path, tag)
    elif suffix in (".csv", ".tsv"):
        rows = _table_rows(path, tag, max_row_bytes)
    elif suffix == ".parquet":
        rows = _parquet_rows(path, tag)
    else:
        rows = _text_rows(path, tag, text_rule)
    count = 0
    try:
        for row in rows:
            count += 1
            yield row
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not count:
        raise _empty(path, "holds no rows")


def _jsonl_rows(path: Path, tag: dict[str, Any], max_row_bytes: int) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if (size := _bytes_over(line, max_row_bytes)) is not None:
                yield Row({"line": n, **tag}, None, oversize(size, max_row_bytes))  # never parsed: it may be huge
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Row({"line": n, **tag}, None, f"malformed JSON ({exc.msg} at column {exc.pos + 1})")
                continue
            yield _object_row({"line": n, **tag}, data)


def _object_row(where: dict[str, Any], data: Any) -> Row:
    return Row(where, data, None) if isinstance(data, dict) else Row(where, None, "expected a JSON object")


def _json_rows(path: Path, tag: dict[str, Any]) -> Iterator[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
    for n, item in enumerate(json_items(data, path), 1):
        yield _object_row({"row": n, **tag}, item)


def json_items(data: Any, path: Path) -> list[Any]:
    """The rows of a parsed .json file: an array of rows; one object that is a row itself (Axolotl's single
    conversation `{"conversations": [...]}`); or an object wrapping exactly one array of rows
    (`{"data": [...]}`, only when none of its keys is a row's). Anything else is not data."""
    if isinstance(data, list):
        if data and not any(isinstance(x, dict) for x in data):
            raise NotData(path, f"a JSON array of {type(data[0]).__name__} values, not of row objects")
        return data
    if not isinstance(data, dict):
        raise NotData(path, f"a JSON {type(data).__name__}, not rows")
    if registry.is_registry(data):
        raise NotData(
            path,
            "LLaMA-Factory's dataset registry, not rows",
            hint="Set data.path to its folder and data.subset to one of its datasets.",
        )
    if ROW_KEYS & set(data) or detect(data) is not None:
        return [data]
    lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if len(lists) != 1:
        keys = ", ".join(sorted(data)[:8])
        raise NotData(
            path,
            f"a JSON object, not rows (keys: {keys})",
            hint="Give an array of row objects, one row object, or an object holding one array of them.",
        )
    return lists[0]


def _table_rows(path: Path, tag: dict[str, Any], max_row_bytes: int) -> Iterator[Row]:
    csv.field_size_limit(max(csv.field_size_limit(), max_row_bytes))  # a long field reaches the row-size check
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        try:
            for n, item in enumerate(reader, 1):
                yield Row({"row": n, **tag}, dict(item))
        except csv.Error as exc:
            raise BadInput(
                f"{path}: line {reader.line_num}: {exc}",
                hint=f"A field over {max_row_bytes:,} characters is over data.max_row_bytes: set it higher, or "
                "fix the quoting.",
            ) from exc


def _parquet_rows(path: Path, tag: dict[str, Any]) -> Iterator[Row]:
    import pyarrow.parquet as pq

    for n, item in enumerate(pq.read_table(path).to_pylist(), 1):
        yield Row({"row": n, **tag}, item)


def text_rule_of(lines: list[str]) -> str:
    """Documents are separated by blank lines when the text has a blank line between two lines; without one,
    every line is a document (LLaMA-Factory's wiki_demo.txt: 30 lines, 30 documents)."""
    inner = [line.strip() for line in lines]
    while inner and not inner[-1]:
        inner.pop()
    first = next((i for i, line in enumerate(inner) if line), len(inner))
    return BLANK_SEPARATED if any(not line for line in inner[first:]) else PER_LINE


def _text_rows(path: Path, tag: dict[str, Any], rule: str | None) -> Iterator[Row]:
    """PER_LINE rows are located by `line`, BLANK_SEPARATED documents by `row` (their number)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    rule = rule or text_rule_of(lines)
    if rule == PER_LINE:
        for n, line in enumerate(lines, 1):
            if line.strip():
                yield Row({"line": n, **tag}, {"text": line.strip()}, text_rule=rule)
        return
    docs, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current).strip())
            current = []
    for n, doc in enumerate(docs, 1):
        yield Row({"row": n, **tag}, {"text": doc}, text_rule=rule)


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)]


def local_rows(path_text: str, *, max_row_bytes: int = MAX_ROW_BYTES, text_rule: str | None = None) -> Iterator[Row]:
    """Rows of a local file, folder or glob (each naming its file when there are several). In a folder or glob,
    files that are not data (a registry, a package.json; a README.md or .txt beside structured files) are
    skipped, each reported as a `skipped` Row; when nothing is left it is an error naming the folder."""
    files = files_of(path_text)
    if files == [Path(bundled.resolve(path_text, key="data.path")).expanduser()]:  # data.path names this file
        yield from read_rows(files[0], name_file=False, max_row_bytes=max_row_bytes, text_rule=text_rule)
        return
    structured = any(f.suffix.lower() not in TEXT_SUFFIXES for f in files)
    read, skipped = 0, []
    for file in files:
        why = "text beside structured data files" if structured and file.suffix.lower() in TEXT_SUFFIXES else None
        if why is None:
            try:
                yield from read_rows(file, name_file=len(files) > 1, max_row_bytes=max_row_bytes, text_rule=text_rule)
                read += 1
                continue
            except NotData as exc:  # raised before the file's first row
                why = exc.why
        skipped.append(f"{file} ({why})")
        yield Row({"file": str(file)}, None, skipped=why)
    if not read:
        raise BadInput(
            f"{path_text}: no data files there; skipped: {'; '.join(skipped)}",
            hint="Point data.path at the file or folder that holds the rows.",
        )


@dataclass
class _FileFormats:
    """Each file's format in one scan, and the check that they train together: rows of a folder or glob train
    as one dataset, so their canonical shapes (ftwiz.data.load.CANONICAL) must agree. ShareGPT, messages and
    Alpaca all become conversations and mix; conversations and prompt/completion (or pairs) do not."""

    fixed: str | None
    by_file: dict[str | None, str] = field(default_factory=dict)
    shapes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # shape -> the first (file, format)
    admitted: set[str | None] = field(default_factory=set)

    def of(self, row: Row, data: Mapping[str, Any]) -> str | None:
        """The row's format: given (`--format`), else its source's hint, else detected from its file's first
        row that says one. None when its keys say nothing."""
        file = row.where.get("file")
        if file in self.by_file:
            return self.by_file[file]
        fmt = self.fixed or row.hint or detect(data)
        if fmt is not None:
            if fmt not in FORMATS:
                raise BadInput(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
            self.by_file[file] = fmt
        return fmt

    def admit(self, file: str | None, fmt: str, canonical: Mapping[str, Any]) -> None:
        """Refuse a file whose rows cannot train beside the files before it."""
        if file in self.admitted:
            return
        from ftwiz.data.load import CANONICAL  # load imports this module

        self.admitted.add(file)
        shape = next((s for s, cols in CANONICAL.items() if all(c in canonical for c in cols)), fmt)
        for other, (first_file, first_fmt) in self.shapes.items():
            if other != shape:
                raise BadInput(
                    f"data.path: {first_file} holds {first_fmt} rows (trains as {other}) and {file} holds {fmt} "
                    f"rows (trains as {shape}): they cannot train together",
                    hint="Point data.path at files of one kind, or convert one kind to the other.",
                )
        self.shapes.setdefault(shape, (file, fmt))


def _row_problems(
    row: Row, data: dict[str, Any] | None, formats: _FileFormats
) -> tuple[str | None, list[tuple[str | None, str]]]:
    """The row's format and its problems (field, message)."""
    if row.error is not None or data is None:
        return None, [(None, row.error or "unreadable row")]
    fmt = formats.of(row, data)
    if fmt is None:
        return None, [(None, f"cannot tell the format from the keys {sorted(data)}")]
    return fmt, [(p.field, p.message) for p in validate(data, fmt)]


def scan(
    rows: Iterable[Row],
    *,
    fmt: str | None = None,
    columns: Mapping[str, str] | None = None,
    seq_len: int | None = None,
    max_positions: int | None = None,
    keep: list[dict[str, Any]] | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Report:
    """Detect (or take) each file's format, validate each row, refuse rows over `max_row_bytes` of text,
    measure lengths (approximately). Valid rows, normalised, are appended to `keep` when given (the worker
    trains on exactly what was checked)."""
    if fmt is not None and fmt not in FORMATS:
        raise BadInput(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    report = Report(format=fmt)
    formats = _FileFormats(fmt)
    seen_columns: dict[str, None] = {}
    text_rules: dict[str | None, str] = {}
    lengths: list[int] = []
    for row in rows:
        if row.skipped is not None:
            report.skipped_files.append(f"{row.where.get('file')} ({row.skipped})")
            continue
        report.rows += 1
        if row.text_rule:
            text_rules.setdefault(row.where.get("file"), row.text_rule)
        data = row.data
        if columns and data is not None:
            data = {columns.get(k, k): v for k, v in data.items()}
        if data is not None:
            seen_columns.update(dict.fromkeys(data))
        row_fmt, problems = _row_problems(row, data, formats)
        report.format = report.format or row_fmt
        if problems or data is None or row_fmt is None:
            _record(report, row, problems)
            continue
        canonical = normalize(data, row_fmt)
        text = row_text(canonical)
        if (size := _bytes_over(text, max_row_bytes)) is not None:
            _record(report, row, [(None, oversize(size, max_row_bytes))])
            continue
        formats.admit(row.where.get("file"), row_fmt, canonical)
        _count_valid(report, canonical, keep)
        lengths.append(math.ceil(len(text) / CHARS_PER_TOKEN))
    report.columns = list(seen_columns)
    report.text_rule = _one_rule(text_rules)
    report.formats = {str(f): v for f, v in formats.by_file.items()} if len(formats.by_file) > 1 else {}
    _length_stats(report, lengths, seq_len, max_positions)
    return report


def _bytes_over(text: str, limit: int) -> int | None:
    """The text's size in UTF-8 bytes when it is over `limit` (encoded only when it could be: 4 bytes a char)."""
    if len(text) * 4 <= limit:
        return None
    size = len(text.encode("utf-8"))
    return size if size > limit else None


def _record(report: Report, row: Row, problems: list[tuple[str | None, str]]) -> None:
    report.error_count += len(problems)
    for fld, message in problems:
        if len(report.errors) < SHOWN_ERRORS:
            report.errors.append({**row.where, "field": fld, "message": message})


def _count_valid(report: Report, canonical: dict[str, Any], keep: list[dict[str, Any]] | None) -> None:
    report.valid_rows += 1
    if keep is not None:
        keep.append(canonical)
    if "label" in canonical:
        report.labels = report.labels or {"desirable": 0, "undesirable": 0}
        report.labels["desirable" if canonical["label"] else "undesirable"] += 1


def _one_rule(rules: Mapping[str | None, str]) -> str | None:
    """The text rule of the scan: the one rule, or each file's when they differ."""
    distinct = set(rules.values())
    if len(distinct) <= 1:
        return next(iter(distinct), None)
    return "; ".join(f"{Path(str(f)).name}: {r}" for f, r in rules.items())


def _length_stats(report: Report, lengths: list[int], seq_len: int | None, max_positions: int | None) -> None:
    if not lengths:
        return
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


def check(path_text: str, *, max_row_bytes: int = MAX_ROW_BYTES, **options: Any) -> Report:
    """`ftwiz data check` on a local file, folder or glob."""
    return scan(local_rows(path_text, max_row_bytes=max_row_bytes), max_row_bytes=max_row_bytes, **options)


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
    wheres: list[dict[str, Any]] | None = None,
    train_on: str = "assistant",
) -> Report:
    """Exact token statistics and the share of tokens that carry loss, with the model's tokenizer and chat
    template, through the masking the worker trains with (ftwiz.data.masking). A row the template cannot render
    is that row's problem, at `wheres[i]` (where row i came from) when given. Imports transformers: only for
    `--tokenizer`."""
    from ftwiz.data.masking import RowTemplateError

    tokenizer = _load_check_tokenizer(tokenizer_ref, chat_template)
    lengths, trained, losing = [], 0, 0
    for n, row in enumerate(rows):
        try:
            length, loss, first = _measure_row(tokenizer, row, train_on)
        except RowTemplateError as exc:
            where = wheres[n] if wheres and n < len(wheres) else {"row": n + 1}
            _template_problem(report, where, exc.field, exc.message)
            continue
        lengths.append(length)
        trained += loss
        losing += int(first is None or (seq_len is not None and first >= seq_len))
    report.rows_losing_answer = losing if seq_len else None
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


def _load_check_tokenizer(tokenizer_ref: str, chat_template: str | None) -> Any:
    from transformers import AutoTokenizer

    from ftwiz.data.templates import ensure_chat_template
    from ftwiz.models.resolve import resolve_model

    resolved = resolve_model(tokenizer_ref)
    tokenizer = AutoTokenizer.from_pretrained(str(resolved.path) if resolved.path else tokenizer_ref)
    ensure_chat_template(tokenizer, chat_template)
    return tokenizer


def _measure_row(tokenizer: Any, row: dict[str, Any], train_on: str) -> tuple[int, int, int | None]:
    """(tokens, trained tokens, index of the first trained token or None) of one canonical row, as the worker
    tokenizes it. Conversations (and conversational prompts) go through the worker's masking."""
    from ftwiz.data.masking import encode_conversation

    if "messages" in row:
        enc = encode_conversation(tokenizer, row, train_on)
    elif isinstance(row.get("prompt"), list):  # conversational preference / feedback: the prompt is context
        answer = row.get("completion", row.get("chosen"))
        answer = answer if isinstance(answer, list) else [{"role": "assistant", "content": str(answer or "")}]
        turns = [{**m, "train": False} for m in row["prompt"]] + list(answer)
        enc = encode_conversation(tokenizer, {"messages": turns, "tools": row.get("tools")})
    elif "prompt" in row:
        prompt = len(tokenizer(row["prompt"], add_special_tokens=True)["input_ids"])
        answer = row.get("completion", row.get("chosen"))
        loss = len(tokenizer(str(answer or ""), add_special_tokens=False)["input_ids"]) + 1  # + EOS
        return prompt + loss, loss, prompt if train_on != "all" else 0
    else:
        n = len(tokenizer(row.get("text") or row_text(row))["input_ids"]) + 1
        return n, n, 0
    mask = enc["assistant_masks"]
    return len(mask), sum(mask), next((i for i, m in enumerate(mask) if m), None)


def _template_problem(report: Report, where: dict[str, Any], field: str | None, message: str) -> None:
    """A row the chat template cannot render: counted and listed like the checks' own problems."""
    report.error_count += 1
    report.valid_rows -= 1
    if len(report.errors) < SHOWN_ERRORS:
        report.errors.append({**where, "field": field, "message": message})
