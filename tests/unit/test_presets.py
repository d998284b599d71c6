"""Every shipped preset validates, and names modules its model really has."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftwiz.config.presets import list_presets, load_config, presets_dir
from ftwiz.models.targets import resolve_targets

PRESETS = [p.name for p in list_presets()]


def test_the_issue_presets_ship():
    assert {"tiny-demo", "phi2-qlora", "llama3-8b-qlora", "mistral-7b-lora", "qwen2.5-0.5b-full"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_and_describes_itself(name):
    loaded = load_config(name)
    assert loaded.preset_name == name
    assert loaded.config.description, f"{name} has no description line for `ftwiz presets`"
    assert loaded.config.output.run_name == name


def test_qlora_presets_are_4bit_nf4():
    for name in ("phi2-qlora", "llama3-8b-qlora"):
        cfg = load_config(name).config
        assert cfg.adapter.type == "qlora" and cfg.quant.bits == 4 and cfg.quant.type == "nf4"


# Real architectures, tiny dimensions, meta device: the preset's target names must exist in the model class
# the installed transformers builds for it.
ARCH = {
    "phi2-qlora": ("phi", {"pad_token_id": 0}),
    "llama3-8b-qlora": ("llama", {"num_key_value_heads": 2}),
    "mistral-7b-lora": ("mistral", {"num_key_value_heads": 2}),
}


@pytest.mark.parametrize("name", list(ARCH))
def test_preset_targets_exist_in_the_architecture(name):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftwiz.train.build import linear_module_names

    model_type, extra = ARCH[name]
    config = AutoConfig.for_model(
        model_type,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        vocab_size=128,
        **extra,
    )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    names = linear_module_names(model)
    targets = resolve_targets(load_config(name).config.adapter.target_modules, names)
    suffixes = {n.rsplit(".", 1)[-1] for n in names}
    assert set(targets) <= suffixes - {"lm_head"}
    if name == "phi2-qlora":  # every projection of phi-2's attention and MLP
        assert set(targets) == suffixes - {"lm_head"}


def test_presets_ship_inside_a_built_wheel(tmp_path: Path):
    """After a plain (non-editable) `pip install .` the presets must still be found."""
    pytest.importorskip("hatchling")
    repo = presets_dir().parent
    if not (repo / "pyproject.toml").exists():
        pytest.skip("running from an installed package")
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(repo)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("ftwiz-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for preset in PRESETS:
        assert f"ftwiz/presets/{preset}.yaml" in names
    assert any(n.startswith("ftwiz/assets/tiny-demo/model/") for n in names)
    shutil.rmtree(out)
