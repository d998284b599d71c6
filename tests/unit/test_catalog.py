"""The offline catalog: published config.json files of popular models, with their inspections precomputed."""

from __future__ import annotations

import json

import pytest

from ftwiz.models import cache
from ftwiz.models.inspect import INSPECTION_VERSION, inspect_reference
from ftwiz.models.resolve import CATALOG, catalog_file, catalog_ids
from ftwiz.models.spec import spec_from_config

IDS = catalog_ids()

# Parameter counts the model authors publish (model cards / papers), in billions: a wrong config fails here.
PUBLISHED_B = {
    "meta-llama/Llama-3.2-1B-Instruct": 1.24,
    "meta-llama/Llama-3.2-3B-Instruct": 3.21,
    "meta-llama/Llama-3.1-8B-Instruct": 8.03,
    "meta-llama/Llama-3.1-70B-Instruct": 70.55,
    "mistralai/Mistral-7B-Instruct-v0.3": 7.25,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": 46.7,
    "Qwen/Qwen2.5-0.5B-Instruct": 0.494,
    "Qwen/Qwen2.5-7B-Instruct": 7.62,
    "Qwen/Qwen2.5-72B-Instruct": 72.7,
    "google/gemma-2-9b-it": 9.24,
    "microsoft/phi-2": 2.78,
    "microsoft/Phi-3.5-mini-instruct": 3.82,
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": 1.71,
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1.10,
}


def test_catalog_covers_the_popular_models():
    assert len(IDS) >= 12, IDS
    assert (CATALOG / "SOURCES.md").is_file(), "every catalog config says where it came from"
    sources = (CATALOG / "SOURCES.md").read_text()
    for model_id in IDS:
        assert model_id in sources, f"{model_id} missing from SOURCES.md"


@pytest.mark.parametrize("model_id", IDS)
def test_catalog_entry_is_consistent(model_id):
    config = json.loads(catalog_file(model_id).read_text())
    shipped = catalog_file(model_id).with_suffix(".inspect.json")
    assert shipped.is_file(), "run scripts/build_catalog.py"
    inspection = json.loads(shipped.read_text())
    assert inspection["config_key"] == cache.config_key(config, INSPECTION_VERSION), "stale: rerun build_catalog"
    spec = spec_from_config(config)
    assert spec.params_total == pytest.approx(inspection["params_total"], rel=0.03)
    if model_id in PUBLISHED_B:
        assert inspection["params_total"] / 1e9 == pytest.approx(PUBLISHED_B[model_id], rel=0.02)
    assert inspection["targets"]["all_linear"] and "lm_head" not in inspection["targets"]["all_linear"]


def test_catalog_models_inspect_offline_from_the_shipped_result(tmp_path, monkeypatch):
    if not IDS:
        pytest.skip("empty catalog")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("FTWIZ_CACHE_DIR", str(tmp_path / "cache"))
    result = inspect_reference(IDS[0], rank=8)
    assert result["source"] == "catalog" and result["rank"] == 8
    assert not (tmp_path / "cache").exists(), "the shipped inspection was used, nothing was built"
