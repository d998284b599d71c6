"""Resolving model references: local folders and files, bundled models, the HF cache offline, the catalog,
and clear errors (exit 2) for everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_LLAMA_CONFIG
from ftwiz.errors import BadInput
from ftwiz.models.resolve import resolve_model

LLAMA = TINY_LLAMA_CONFIG


def test_local_folder_and_config_file(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    assert resolve_model(str(tmp_path)).config["hidden_size"] == 64
    resolved = resolve_model(str(tmp_path / "config.json"))
    assert resolved.source == "local" and resolved.path == tmp_path


def test_bundled_demo_model():
    resolved = resolve_model("ftwiz:tiny-demo/model")
    assert resolved.source == "bundled" and resolved.config["model_type"] == "llama"


def test_bad_local_inputs_name_the_problem(tmp_path: Path):
    with pytest.raises(BadInput, match="no such file or folder"):
        resolve_model("./nowhere")
    with pytest.raises(BadInput, match=r"folder without a config\.json"):
        resolve_model(str(tmp_path))
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama",\n oops}')
    with pytest.raises(BadInput, match=r"config.json:2: not valid JSON"):
        resolve_model(str(bad))
    bad.write_text('{"hello": 1}')
    with pytest.raises(BadInput, match=r"not a transformers config\.json"):
        resolve_model(str(bad))


def test_remote_code_is_refused_unless_the_user_opts_in(tmp_path: Path):
    config = {**LLAMA, "model_type": "my_secret_arch", "auto_map": {"AutoConfig": "configuration_x.XConfig"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BadInput, match="needs trust_remote_code") as info:
        resolve_model(str(tmp_path))
    assert "model.trust_remote_code: true" in str(info.value)
    assert resolve_model(str(tmp_path), trust_remote_code=True).config["model_type"] == "my_secret_arch"
    # An auto_map on an architecture transformers knows needs no remote code.
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA, "auto_map": {"AutoConfig": "x.Y"}}))
    assert resolve_model(str(tmp_path)).source == "local"


def populate_hf_cache(cache: Path, repo_id: str, config: dict) -> None:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/config.json}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))


def test_hub_id_from_a_populated_cache_offline(tmp_path: Path, monkeypatch):
    populate_hf_cache(tmp_path, "acme/tiny-llama", LLAMA)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    resolved = resolve_model("acme/tiny-llama")
    assert resolved.source == "hub-cache" and resolved.config == LLAMA


def test_unknown_hub_id_offline_says_what_to_do(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(BadInput, match="cannot reach the Hugging Face hub for acme/nothing") as info:
        resolve_model("acme/nothing")
    assert "offline catalog" in str(info.value)
    with pytest.raises(BadInput, match="neither a local path nor a valid hub id"):
        resolve_model("not a valid id!")


def _http_error(cls, status: int):
    import httpx2

    request = httpx2.Request("GET", "https://huggingface.co/acme/x/resolve/main/config.json")
    return cls(f"{status} error", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize(
    ("error", "status", "message", "hint"),
    [
        ("GatedRepoError", 401, "acme/llama is gated on the Hugging Face hub", "export HF_TOKEN"),
        ("RepositoryNotFoundError", 404, "acme/llama is not a model on the Hugging Face hub", "Check the spelling"),
    ],
)
def test_hub_errors_say_what_to_do(tmp_path: Path, monkeypatch, error, status, message, hint):
    import huggingface_hub
    from huggingface_hub import errors

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("ftwiz.models.resolve.hub_reachable", lambda: True)
    real = huggingface_hub.hf_hub_download

    def fake_download(repo_id, filename, **kwargs):
        if kwargs.get("local_files_only"):
            return real(repo_id, filename, **kwargs)
        raise _http_error(getattr(errors, error), status)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    with pytest.raises(BadInput, match=message) as info:
        resolve_model("acme/llama")
    assert hint in str(info.value)
    assert info.value.exit_code == 2
