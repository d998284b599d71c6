"""Where training rows come from: local files, folders and globs (read by ftwiz, so problems carry file:line),
or `datasets` for hub datasets and folders laid out as one (subset + split).

A local folder is read file by file unless it is LLaMA-Factory's data folder (its `dataset_info.json` registry:
`data.subset` names the dataset, read through ftwiz.data.registry; a file the registry lists is read through its
entry too), or a `datasets` folder: `save_to_disk` output (dataset_dict.json, or a dataset_info.json describing
`features`) or a hub-style repository whose README declares `configs:` (subsets), or unless `data.subset` is
given. Hub ids go through `datasets.load_dataset`, which downloads and caches them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftwiz import bundled
from ftwiz.data import registry
from ftwiz.data.check import MAX_ROW_BYTES, PER_LINE, TEXT_SUFFIXES, Row, local_rows
from ftwiz.errors import BadInput
from ftwiz.models.resolve import hub_reachable


def is_local(ref: str) -> bool:
    path = Path(ref).expanduser()
    return path.exists() or any(c in ref for c in "*?[") or ref.startswith((".", "/", "~")) or bool(path.suffix)


def _datasets_folder(path: Path) -> str | None:
    """`disk` for save_to_disk output, `repo` for a hub-style folder with declared configs, else None."""
    if not path.is_dir():
        return None
    if (path / "dataset_dict.json").exists() or _saved_dataset_info(path / "dataset_info.json"):
        return "disk"
    readme = path / "README.md"
    if readme.exists() and readme.read_text(encoding="utf-8", errors="replace").startswith("---"):
        front = readme.read_text(encoding="utf-8", errors="replace").split("---", 2)[1]
        if "\nconfigs:" in "\n" + front:
            return "repo"
    return None


def _saved_dataset_info(path: Path) -> bool:
    """`save_to_disk`'s dataset_info.json (it describes `features`, `splits`...), not LLaMA-Factory's registry of
    the same name (an object of dataset entries)."""
    if not path.is_file():
        return False
    try:
        info = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(info, dict) and any(k in info for k in registry.SAVE_TO_DISK_KEYS)


def rows_from(
    path_text: str, *, subset: str | None = None, split: str = "train", max_row_bytes: int = MAX_ROW_BYTES
) -> Iterator[Row]:
    """Every row of the data with where it came from (`line`/`row`, and `file` when there are several files)."""
    ref = bundled.resolve(path_text, key="data.path")
    path = Path(ref).expanduser()
    selection = registry.select(path, subset) if is_local(ref) else None
    if selection is not None:
        yield from registry_rows(selection, max_row_bytes=max_row_bytes)
        return
    kind = _datasets_folder(path) if is_local(ref) else "hub"
    if kind is None and subset is None:
        yield from local_rows(ref, max_row_bytes=max_row_bytes)
        return
    dataset = _load_with_datasets(str(path) if kind != "hub" else ref, kind or "repo", subset, split)
    for i, item in enumerate(dataset, 1):
        yield Row({"row": i}, dict(item))


def registry_rows(selection: registry.Selection, *, max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[Row]:
    """The rows of a LLaMA-Factory registry entry, translated to ftwiz's input shapes and carrying the entry's
    format as their hint; locations stay those of the file. Text files are one document per line, as
    LLaMA-Factory reads them (the `text` builder)."""
    entry = selection.entry
    rule = PER_LINE if selection.file.suffix.lower() in TEXT_SUFFIXES else None
    for row in local_rows(str(selection.file), max_row_bytes=max_row_bytes, text_rule=rule):
        data = registry.translate(row.data, entry) if row.data is not None else None
        yield dataclasses.replace(row, data=data, hint=entry.hint)


def _load_with_datasets(ref: str, kind: str, subset: str | None, split: str) -> Any:
    import datasets

    datasets.disable_progress_bars()  # "Generating train split" bars would fill the terminal and train.log
    where = f"{ref}" + (f" (subset {subset})" if subset else "") + f", split {split}"
    try:
        if kind == "disk":
            loaded = datasets.load_from_disk(ref)
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise BadInput(f"data.split: {ref} has no split {split!r}; it has {', '.join(loaded)}")
                loaded = loaded[split]
            return loaded
        if kind == "hub" and not hub_reachable():
            # No network: datasets would retry the hub for ~25 s before raising. Offline mode goes straight to
            # its cache (a dataset loaded before still loads) or fails at once.
            return _load_offline(datasets, ref, subset, split)
        return datasets.load_dataset(ref, name=subset, split=split)
    except BadInput:
        raise
    except ConnectionError as exc:  # the hub unreachable (or offline mode) and the dataset not in the cache
        raise BadInput(
            f"data.path: cannot reach the Hugging Face hub for {where}, and it is not in the local datasets cache",
            hint="Connect to the network once (the dataset is cached for later), or give a local file or folder "
            "(try the bundled demo: ftwiz:tiny-demo/data/train.jsonl).",
        ) from exc
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise BadInput(
            f"data.path: cannot load {where}: {exc}",
            hint="Check data.path, data.subset (a hub dataset's config name) and data.split.",
        ) from exc


def _load_offline(datasets: Any, ref: str, subset: str | None, split: str) -> Any:
    """`load_dataset` in datasets' offline mode (its module-level switch, restored after)."""
    saved = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = True
    try:
        return datasets.load_dataset(ref, name=subset, split=split)
    finally:
        datasets.config.HF_HUB_OFFLINE = saved
