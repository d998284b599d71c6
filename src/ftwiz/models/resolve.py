"""Resolve a model reference to its config.json: a local folder, a config.json path, a bundled model, a hub id
(config.json only, through huggingface_hub and its cache), or ftwiz's offline catalog.

Never downloads weights. `HF_TOKEN` (or `huggingface-cli login`) is used for gated repos and never stored;
`HF_HUB_OFFLINE=1` is honoured (huggingface_hub reads it). Light: no torch.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ftwiz import bundled
from ftwiz.errors import BadInput

CATALOG = Path(__file__).resolve().parent / "catalog"


@dataclass(frozen=True)
class ResolvedModel:
    ref: str
    source: str  # local | bundled | hub | hub-cache | catalog
    config: dict[str, Any]
    path: Path | None = None
    """Where config.json lies (a folder for local/bundled/hub-cache models)."""
    notes: list[str] = field(default_factory=list)


def catalog_file(ref: str) -> Path:
    return CATALOG / (ref.replace("/", "--") + ".json")


def catalog_ids() -> list[str]:
    return sorted(
        p.stem.replace("--", "/", 1) for p in CATALOG.glob("*--*.json") if not p.name.endswith(".inspect.json")
    )


def _read_config(path: Path, ref: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"model.id: {path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except OSError as exc:
        raise BadInput(f"model.id: {ref}: cannot read {path} ({exc.strerror})") from exc
    if not isinstance(data, dict) or "model_type" not in data:
        raise BadInput(f"model.id: {path} is not a transformers config.json (no model_type)")
    return data


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or ref.endswith(".json") or ref.count("/") > 1


def resolve_model(ref: str, *, trust_remote_code: bool = False) -> ResolvedModel:
    """The config of `ref`; BadInput (exit 2) with what to do when it cannot be had."""
    if bundled.is_bundled(ref):
        folder = Path(bundled.resolve(ref, key="model.id"))
        return _checked(
            ResolvedModel(ref, "bundled", _read_config(folder / "config.json", ref), folder), trust_remote_code
        )
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BadInput(f"model.id: {ref} is a folder without a config.json")
        return _checked(ResolvedModel(ref, "local", _read_config(path / "config.json", ref), path), trust_remote_code)
    if path.is_file():
        return _checked(ResolvedModel(ref, "local", _read_config(path, ref), path.parent), trust_remote_code)
    if _looks_like_path(ref):
        raise BadInput(f"model.id: {ref}: no such file or folder")
    return _checked(_from_hub(ref), trust_remote_code)


def hub_reachable() -> bool:
    """A DNS lookup of the hub's host: fails at once without a network, where huggingface_hub would retry
    for ~25 s before giving up."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _from_hub(repo_id: str) -> ResolvedModel:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    # Cheapest first: the local HF cache, then ftwiz's catalog (the published config.json), then the network.
    try:
        local = hf_hub_download(repo_id, "config.json", local_files_only=True)
        return ResolvedModel(repo_id, "hub-cache", _read_config(Path(local), repo_id), Path(local).parent)
    except HFValidationError as exc:
        raise BadInput(f"model.id: {repo_id!r} is neither a local path nor a valid hub id (org/name)") from exc
    except (LocalEntryNotFoundError, OSError):
        pass
    shipped = catalog_file(repo_id)
    if shipped.is_file():
        return ResolvedModel(
            repo_id,
            "catalog",
            _read_config(shipped, repo_id),
            None,
            ["config.json from ftwiz's offline catalog (see models/catalog/SOURCES.md)"],
        )
    try:
        if not hub_reachable():
            raise OfflineModeIsEnabled("no network")
        local = hf_hub_download(repo_id, "config.json")  # token: HF_TOKEN or the saved login
    except GatedRepoError as exc:
        raise BadInput(
            f"model.id: {repo_id} is gated on the Hugging Face hub",
            hint=f"Accept its licence at https://huggingface.co/{repo_id}, then `export HF_TOKEN=hf_...` "
            "(or `huggingface-cli login`) and try again.",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise BadInput(
            f"model.id: {repo_id} is not a model on the Hugging Face hub",
            hint="Check the spelling (org/name); a private repo needs HF_TOKEN. A local model: give its folder.",
        ) from exc
    except HFValidationError as exc:
        raise BadInput(f"model.id: {repo_id!r} is neither a local path nor a valid hub id (org/name)") from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as exc:
        raise BadInput(
            f"model.id: cannot reach the Hugging Face hub for {repo_id}, and it is neither in the local HF cache "
            "nor in ftwiz's offline catalog",
            hint="Connect to the network once (only config.json is fetched), give a local folder, or pick a "
            "catalog model: " + ", ".join(catalog_ids()[:6]) + ", ...",
        ) from exc
    return ResolvedModel(repo_id, "hub", _read_config(Path(local), repo_id), Path(local).parent)


def needs_remote_code(config: dict[str, Any]) -> bool:
    """True when transformers cannot build this config without running the repository's own Python code."""
    if not config.get("auto_map"):
        return False
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return config.get("model_type") not in CONFIG_MAPPING_NAMES


def _checked(resolved: ResolvedModel, trust_remote_code: bool) -> ResolvedModel:
    if needs_remote_code(resolved.config) and not trust_remote_code:
        raise BadInput(
            f"model.id: {resolved.ref} needs trust_remote_code: its config maps to Python code shipped in the "
            f"repository (model_type {resolved.config.get('model_type')!r} is unknown to the installed transformers)",
            hint="That code runs on your machine with your permissions. If you trust the repository, set "
            "model.trust_remote_code: true (or pass --trust-remote-code).",
        )
    return resolved
