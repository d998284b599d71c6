"""LLaMA-Factory's dataset registry (`dataset_info.json`): which entry a `data.path` means, and each entry's rows
translated into the input shapes ftwiz reads (see ftwiz.data.formats), with the format the entry declares.

People arrive with a LLaMA-Factory `data/` folder: its files only make sense through the registry, which names
each file's columns (`columns`), the keys and role names inside its turns (`tags`), its layout (`formatting`:
alpaca or sharegpt) and whether it holds preference pairs (`ranking`) or KTO labels (`columns.kto_tag`). Read
blindly, a ranking file looks like broken conversations and a KTO file like plain SFT. The registry's semantics
follow LLaMA-Factory's own reader: `DatasetAttr` and `get_dataset_list` in src/llamafactory/data/parser.py (the
defaults below, and that a given `columns`/`tags` mapping replaces the defaults: unlisted columns are None) and the
converters in src/llamafactory/data/converter.py (alpaca joins prompt and query with a newline; the sharegpt role
tags; an alpaca entry without a response column is unsupervised, i.e. pretraining text).

Pure: JSON and paths only (no `datasets`), so `ftwiz data check` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwiz.errors import BadInput

REGISTRY_FILE = "dataset_info.json"
HUB_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url")
SOURCE_KEYS = ("file_name", "script_url", "cloud_file_name", *HUB_KEYS)
SAVE_TO_DISK_KEYS = ("features", "splits", "builder_name", "config_name", "dataset_name", "download_checksums")
MEDIA_COLUMNS = ("images", "videos", "audios")
COMMON_COLUMNS = ("system", "tools", *MEDIA_COLUMNS, "chosen", "rejected", "kto_tag")
ALPACA_COLUMNS = ("prompt", "query", "response", "history")
SHAREGPT_COLUMNS = ("messages",)
DEFAULT_COLUMNS = {  # when an entry gives no `columns` (parser.DatasetAttr's defaults)
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output"},
    "sharegpt": {"messages": "conversations"},
    "openai": {"messages": "messages"},
}
DEFAULT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
STANDARD_ROLES = {  # a tag's role name -> ftwiz's ShareGPT role name
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}


@dataclass(frozen=True)
class Entry:
    """One dataset of the registry, its columns and tags resolved the way LLaMA-Factory resolves them."""

    name: str
    file_name: str | None = None
    formatting: str = "alpaca"
    ranking: bool = False
    columns: Mapping[str, str] = field(default_factory=dict)  # LLaMA-Factory's column role -> the file's column
    tags: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS))
    hub: str | None = None

    @property
    def hint(self) -> str:
        """The ftwiz format of the translated rows (handed to `scan(fmt=...)`)."""
        if "kto_tag" in self.columns:
            return "unpaired_preference"
        if self.ranking:
            return "preference"
        if self.formatting == "alpaca":
            return "alpaca" if "response" in self.columns else "text"  # no response: LLaMA-Factory's unsupervised
        return "sharegpt" if self.formatting == "sharegpt" else "messages"


@dataclass(frozen=True)
class Selection:
    """What a data.path means in a registry folder: the entry and the file (or folder of files) it names."""

    entry: Entry
    file: Path
    registry: Path


def is_registry(data: Any) -> bool:
    """LLaMA-Factory's registry: an object of entry objects, at least one naming where its data is.
    `save_to_disk` writes a `dataset_info.json` too, but with `features`/`splits` at the top and no entries."""
    if not isinstance(data, dict) or not data or any(k in data for k in SAVE_TO_DISK_KEYS):
        return False
    if not all(isinstance(v, dict) for v in data.values()):
        return False
    return any(any(k in v for k in SOURCE_KEYS) for v in data.values())


def read_registry(path: Path) -> dict[str, Any] | None:
    """The registry at `path` (a dataset_info.json), or None when the file is something else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if is_registry(data) else None


def parse_entry(name: str, info: Mapping[str, Any]) -> Entry:
    """One registry entry as LLaMA-Factory reads it (parser.get_dataset_list)."""
    formatting = str(info.get("formatting", "alpaca"))
    if formatting not in DEFAULT_COLUMNS:
        raise BadInput(
            f"data.subset {name}: formatting {formatting!r} in {REGISTRY_FILE}; ftwiz reads alpaca, sharegpt "
            "and openai entries",
            hint="Point data.path at the file itself: ftwiz detects its format from the keys.",
        )
    columns: dict[str, str] = dict(DEFAULT_COLUMNS[formatting])
    if isinstance(info.get("columns"), Mapping):  # given columns replace the defaults (unlisted ones are None)
        allowed = COMMON_COLUMNS + (ALPACA_COLUMNS if formatting == "alpaca" else SHAREGPT_COLUMNS)
        columns = {k: str(v) for k, v in info["columns"].items() if k in allowed and v}
        if formatting != "alpaca":
            columns.setdefault("messages", DEFAULT_COLUMNS[formatting]["messages"])
    tags = dict(DEFAULT_TAGS)
    if formatting != "alpaca" and isinstance(info.get("tags"), Mapping):
        tags.update({k: str(v) for k, v in info["tags"].items() if k in DEFAULT_TAGS and v})
    hub = next((str(info[k]) for k in HUB_KEYS if info.get(k)), None)
    return Entry(
        name=name,
        file_name=str(info["file_name"]) if info.get("file_name") else None,
        formatting=formatting,
        ranking=bool(info.get("ranking", False)),
        columns=columns,
        tags=tags,
        hub=hub,
    )


def local_entries(registry: Mapping[str, Any], folder: Path) -> list[str]:
    """The entries whose file is in `folder` (the ones data.subset can name here)."""
    return [
        name
        for name, info in registry.items()
        if isinstance(info, Mapping) and info.get("file_name") and (folder / str(info["file_name"])).exists()
    ]


def select(path: Path, subset: str | None) -> Selection | None:
    """The registry entry `data.path` (+ `data.subset`) means, or None when no registry applies: `path` is a
    folder holding LLaMA-Factory's dataset_info.json, that file itself, or a file the registry of its folder
    lists. Files the registry does not list are read like any other file (None)."""
    if path.is_dir() or path.name == REGISTRY_FILE:
        registry_path = path / REGISTRY_FILE if path.is_dir() else path
        registry = read_registry(registry_path) if registry_path.is_file() else None
        if registry is None:
            return None
        return _by_name(registry, registry_path, subset)
    registry_path = path.parent / REGISTRY_FILE
    if not path.is_file() or not registry_path.is_file() or (registry := read_registry(registry_path)) is None:
        return None
    listed = [n for n, i in registry.items() if (path.parent / str(i.get("file_name", ""))).resolve() == path.resolve()]
    if not listed:
        return None
    if subset is not None and subset not in listed:
        raise BadInput(
            f"data.subset: {subset!r} is not the entry for {path.name} in {registry_path} (that is "
            f"{', '.join(listed)})",
            hint=f"Drop data.subset, or set data.path to {path.parent} to pick an entry by name.",
        )
    return _by_name(registry, registry_path, subset or listed[0])


def _by_name(registry: Mapping[str, Any], registry_path: Path, subset: str | None) -> Selection:
    folder = registry_path.parent
    local = ", ".join(local_entries(registry, folder)) or "none"
    if subset is None:
        raise BadInput(
            f"data.path: {folder} is a LLaMA-Factory data folder ({REGISTRY_FILE}); data.subset names the "
            f"dataset to read. Here: {local}",
            hint="Set data.subset (`--subset NAME` for `ftwiz data check`).",
        )
    if subset not in registry:
        raise BadInput(f"data.subset: {registry_path} has no entry {subset!r}; the ones here: {local}")
    entry = parse_entry(subset, registry[subset])
    if entry.file_name is None:
        where = f"the hub dataset {entry.hub}" if entry.hub else "no local file"
        raise BadInput(
            f"data.subset {subset}: {registry_path} points it at {where}, not a file in {folder}",
            hint=f"Set data.path: {entry.hub} (and no data.subset) to read it from the hub."
            if entry.hub
            else "Give data.path a local file.",
        )
    file = folder / entry.file_name
    if not file.exists():
        raise BadInput(f"data.subset {subset}: its file {file} is not there ({registry_path} lists it)")
    return Selection(entry, file, registry_path)


def translate(row: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """One row of the entry's file in ftwiz's input shape (format `entry.hint`). Total: a column the row lacks
    is left out, so the format check reports it as that row's problem. Columns the entry does not name stay as
    they are (an undeclared `images` column is still seen and refused)."""
    out = _alpaca(row, entry) if entry.formatting == "alpaca" else _chat(row, entry)
    kept = ["tools", *MEDIA_COLUMNS]
    if not (entry.formatting == "alpaca" and "prompt" in out):  # alpaca pairs and KTO hold the system prompt
        kept.insert(0, "system")
    out.update({role: row[entry.columns[role]] for role in kept if _has(row, entry, role)})
    if _has(row, entry, "kto_tag"):
        out["label"] = row[entry.columns["kto_tag"]]
    used = set(entry.columns.values())
    return {**{k: v for k, v in row.items() if k not in used and k not in out}, **out}


def _alpaca(row: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """instruction/input/output (alpaca), prompt/chosen/rejected (ranking), prompt/completion/label (KTO), or
    text (no response column). LLaMA-Factory joins prompt and query with a newline (AlpacaDatasetConverter)."""

    def get(role: str) -> Any:
        return row[entry.columns[role]] if _has(row, entry, role) else None

    hint = entry.hint
    if hint == "alpaca":
        names = {"instruction": "prompt", "input": "query", "output": "response", "history": "history"}
        return {name: get(role) for name, role in names.items() if _has(row, entry, role)}
    query = "\n".join(str(x) for x in (get("prompt"), get("query")) if x)
    if hint == "text":
        return {"text": query} if _has(row, entry, "prompt") else {}
    prompt = _alpaca_prompt(query, get("history"), get("system"))
    answers = (
        {"completion": "response"} if hint == "unpaired_preference" else {"chosen": "chosen", "rejected": "rejected"}
    )
    return {"prompt": prompt, **{k: get(role) for k, role in answers.items() if _has(row, entry, role)}}


def _alpaca_prompt(query: str, history: Any, system: Any) -> Any:
    """The prompt of a preference or KTO row: a string, or turns when there is history or a system prompt."""
    if not history and not system:
        return query
    turns: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for pair in history if isinstance(history, list) else []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return [*turns, {"role": "user", "content": query}]


def _chat(row: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """sharegpt: `conversations` of {from, value} turns with ftwiz's role names (human, gpt, system,
    function_call, observation; unknown ones kept for the check to name); ranking chosen/rejected turns the same.
    openai: the messages column as `messages`, turns untouched (already ftwiz's messages shape)."""
    messages = row.get(entry.columns["messages"])
    if entry.formatting == "openai":
        out = {"messages": messages} if entry.columns["messages"] in row else {}
        return {**out, **{k: row[entry.columns[k]] for k in ("chosen", "rejected") if _has(row, entry, k)}}
    out = {"conversations": _turns(messages, entry.tags)} if entry.columns["messages"] in row else {}
    for key in ("chosen", "rejected"):
        if _has(row, entry, key):
            value = row[entry.columns[key]]
            out[key] = _turns(value, entry.tags) if isinstance(value, list) else _turn(value, entry.tags)
    return out


def _has(row: Mapping[str, Any], entry: Entry, role: str) -> bool:
    return role in entry.columns and entry.columns[role] in row


def _turns(turns: Any, tags: Mapping[str, str]) -> Any:
    return [_turn(t, tags) for t in turns] if isinstance(turns, list) else turns


def _turn(turn: Any, tags: Mapping[str, str]) -> Any:
    """One turn with `from`/`value` keys and ftwiz's role names; other keys (e.g. loss_weight) kept."""
    if not isinstance(turn, Mapping):
        return turn
    roles = {tags[tag]: standard for tag, standard in STANDARD_ROLES.items()}
    role_key, content_key = tags["role_tag"], tags["content_tag"]
    out: dict[str, Any] = {}
    if role_key in turn:
        raw = turn[role_key]
        out["from"] = roles.get(raw, raw) if isinstance(raw, str) else raw
    if content_key in turn:
        out["value"] = turn[content_key]
    return {**out, **{k: v for k, v in turn.items() if k not in (role_key, content_key) and k not in out}}
