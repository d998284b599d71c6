"""Inspection results cached on disk, keyed by a hash of the config, so the second look is instant and
needs no torch. `FTWIZ_CACHE_DIR` overrides the folder (default: $XDG_CACHE_HOME/ftwiz or ~/.cache/ftwiz)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftwiz.files import write_json_atomic

# Keys that do not change the module tree; leaving them out lets equal architectures share an entry.
_IRRELEVANT = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "use_cache", "_commit_hash"}


def cache_dir() -> Path:
    if custom := os.environ.get("FTWIZ_CACHE_DIR"):
        return Path(custom)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ftwiz"


def config_key(config: Mapping[str, Any], version: int) -> str:
    canonical = json.dumps({k: v for k, v in config.items() if k not in _IRRELEVANT}, sort_keys=True, default=str)
    return hashlib.sha256(f"v{version}:{canonical}".encode()).hexdigest()[:20]


def _path(key: str) -> Path:
    return cache_dir() / "inspect" / f"{key}.json"


def load(key: str) -> dict[str, Any] | None:
    try:
        return json.loads(_path(key).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def save(key: str, result: Mapping[str, Any]) -> None:
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result)
    except OSError:
        pass  # a read-only home is no reason to fail an inspection
