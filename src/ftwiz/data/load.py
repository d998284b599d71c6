"""Load the training data through `datasets` and split off the held-out rows.

Local files (.jsonl/.json/.csv/.tsv/.parquet/.txt), local folders, and hub datasets by id. Format detection
here covers what TRL's SFTTrainer consumes directly (conversational `messages`, `prompt`/`completion`, plain
`text`); row-by-row validation with file:line errors is the data checker's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftwiz import bundled
from ftwiz.config.schema import DataConfig
from ftwiz.errors import BadInput

if TYPE_CHECKING:  # datasets costs ~1 s to import; only the worker needs it
    from datasets import Dataset

FILE_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}
CANONICAL = {"messages": ("messages",), "prompt_completion": ("prompt", "completion"), "text": ("text",)}


def detect_format(columns: list[str]) -> str:
    """The canonical format whose columns are present."""
    for fmt, needed in CANONICAL.items():
        if all(c in columns for c in needed):
            return fmt
    raise BadInput(
        f"data: cannot tell the format from the columns {columns}",
        hint="Expected `messages`, `prompt`+`completion`, or `text`; rename columns with "
        "data.columns (e.g. {conversation: messages}) or set data.format.",
    )


def load_rows(config: DataConfig) -> tuple[Dataset, str]:
    """The dataset with canonical column names, and its format."""
    import datasets

    ref = bundled.resolve(config.path, key="data.path")
    path = Path(ref).expanduser()
    try:
        if path.is_file():
            builder = FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise BadInput(
                    f"data.path: {path}: unsupported file type '{path.suffix}'",
                    hint=f"Use one of {', '.join(sorted(FILE_BUILDERS))}.",
                )
            extra = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            ds = datasets.load_dataset(builder, data_files=str(path), split="train", **extra)
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), split=config.split)
        elif path.suffix or ref.startswith((".", "/", "~")):
            raise BadInput(f"data.path: {ref}: no such file or folder")
        else:
            ds = datasets.load_dataset(ref, split=config.split)  # a hub dataset id
    except BadInput:
        raise
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise BadInput(f"data.path: cannot load {ref}: {exc}") from exc
    if config.columns:
        missing = [c for c in config.columns if c not in ds.column_names]
        if missing:
            raise BadInput(f"data.columns: {', '.join(missing)} not in the dataset's columns {ds.column_names}")
        ds = ds.rename_columns(dict(config.columns))
    fmt = detect_format(ds.column_names) if config.format == "auto" else config.format
    keep = CANONICAL[fmt]
    missing = [c for c in keep if c not in ds.column_names]
    if missing:
        raise BadInput(f"data.format: '{fmt}' needs the column(s) {', '.join(missing)}; found {ds.column_names}")
    ds = ds.remove_columns([c for c in ds.column_names if c not in keep])
    if len(ds) == 0:
        raise BadInput(f"data.path: {ref} has no rows")
    return ds, fmt


def split_rows(ds: Dataset, val_size: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """(train, eval); eval is None when val_size is 0. `val_size` < 1 is a fraction, >= 1 a row count."""
    if val_size == 0:
        return ds, None
    n_val = int(val_size) if val_size >= 1 else max(1, round(len(ds) * val_size))
    if n_val >= len(ds):
        raise BadInput(f"data.val_size: {val_size} leaves no training rows out of {len(ds)}")
    parts = ds.train_test_split(test_size=n_val, seed=seed, shuffle=True)
    return parts["train"], parts["test"]
