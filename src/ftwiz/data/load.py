"""Load the training data, checked and normalised, as a `datasets.Dataset`, and split off the held-out rows.

Rows come from `ftwiz.data.source` (local files with file:line, or `datasets` for hub datasets).
Every format is normalised to what TRL's SFTTrainer consumes:
conversations (`messages`), `prompt`/`completion`, or `text`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftwiz.config.schema import PREFERENCE_METHODS, DataConfig
from ftwiz.data.check import Report, describe, scan
from ftwiz.data.formats import methods_for
from ftwiz.data.source import rows_from
from ftwiz.errors import BadInput

if TYPE_CHECKING:  # datasets costs ~1 s to import; only the worker needs it
    from datasets import Dataset

CANONICAL = {
    "messages": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "unpaired_preference": ("prompt", "completion", "label"),  # before prompt_completion: a superset of it
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
}


def load_rows(config: DataConfig, method: str = "sft") -> tuple[Dataset, str, list[str]]:
    """The checked, normalised training rows, their canonical format, and what was decided on the way.

    The same checks as `ftwiz data check` run first: with `data.on_error: stop` (the default) any problem stops
    the run before a model is loaded (exit 2, problems listed by line); with `skip` the bad rows are dropped and
    counted, never silently.
    """
    import datasets

    rows = rows_from(config.path, subset=config.subset, split=config.split, max_row_bytes=config.max_row_bytes)
    keep: list[dict] = []
    fmt = None if config.format == "auto" else config.format
    report = scan(rows, fmt=fmt, columns=config.columns, keep=keep, max_row_bytes=config.max_row_bytes)
    decisions = judge(report, config)
    check_method(report.format, method, config.path)
    if not keep:
        raise BadInput(f"data.path: {config.path} has no usable rows")
    canonical = next(fmt for fmt, cols in CANONICAL.items() if all(c in keep[0] for c in cols))
    return datasets.Dataset.from_list(keep), canonical, decisions


def check_method(fmt: str | None, method: str, path: str) -> None:
    """Preference pairs train with DPO, ORPO or KTO, unpaired feedback with KTO, and those only with them."""
    if fmt is None or method in methods_for(fmt):
        return
    if fmt == "unpaired_preference":
        hint = "Set method: kto, or give prompt/chosen/rejected pairs for DPO and ORPO."
        if method not in PREFERENCE_METHODS:
            hint = "Set method: kto, or drop the label column (and the undesirable rows) to train with SFT."
        raise BadInput(
            f"data: {path} holds unpaired feedback (a true/false `label` judging each answer): it trains with "
            f"method kto, not {method}: {method} would train on the undesirable answers too",
            hint=hint,
        )
    if method in PREFERENCE_METHODS:
        raise BadInput(
            f"data: method {method} trains on preference pairs (prompt, chosen, rejected); {path} holds {fmt} rows",
            hint="Give prompt/chosen/rejected rows (`ftwiz data check` shows the format), or set method: sft.",
        )
    raise BadInput(
        f"data: {path} holds preference pairs (prompt/chosen/rejected): they train with method dpo, orpo or kto",
        hint="Set method: dpo, or give conversations, instruction/output or prompt/completion rows for SFT.",
    )


def judge(report: Report, config: DataConfig) -> list[str]:
    """Apply `data.on_error` to a check's report: raise (stop) or say what was dropped (skip)."""
    if not report.error_count:
        return []
    listed = "\n".join(f"  {describe(e)}" for e in report.errors)
    hidden = report.error_count - len(report.errors)
    more = f"\n  ... {hidden} more" if hidden else ""
    if config.on_error == "stop":
        raise BadInput(
            f"data.path: {report.error_count} problem(s) in {config.path} "
            f"({report.rows - report.valid_rows} of {report.rows} rows):\n{listed}{more}",
            hint="Fix the rows (`ftwiz data check` lists them), or set data.on_error: skip to train without them.",
        )
    return [
        f"data.on_error skip: dropped {report.rows - report.valid_rows} of {report.rows} rows "
        f"({report.error_count} problems, first: {describe(report.errors[0])})"
    ]


def split_rows(ds: Dataset, val_size: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """(train, eval); eval is None when val_size is 0. `val_size` < 1 is a fraction, >= 1 a row count."""
    if val_size == 0:
        return ds, None
    n_val = int(val_size) if val_size >= 1 else max(1, round(len(ds) * val_size))
    if n_val >= len(ds):
        raise BadInput(f"data.val_size: {val_size} leaves no training rows out of {len(ds)}")
    parts = ds.train_test_split(test_size=n_val, seed=seed, shuffle=True)
    return parts["train"], parts["test"]
