"""The CLI as a user meets it: version, presets, bad input with exit 2 and a message that says what to do."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

BROKEN = """\
model:
  id: microsoft/phi-2
  dtype: bf16
data:
  path: chats.jsonl
adapter:
  r: eight
  rank: 8
train:
  lr: 1e-4
"""


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("ftwiz 0.")


def test_presets_lists_names_and_descriptions():
    result = run_cli("presets")
    assert result.returncode == 0
    for name in ("tiny-demo", "phi2-qlora", "llama3-8b-qlora", "mistral-7b-lora", "qwen2.5-0.5b-full"):
        assert name in result.stdout
    assert "QLoRA" in result.stdout


def test_broken_config_exits_2_naming_every_bad_key(tmp_path: Path):
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN)
    result = run_cli("train", str(config), "--headless", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{config}:3: model.dtype: expected one of: auto, bfloat16, float16, float32, got 'bf16'" in result.stderr
    assert f"{config}:7: adapter.r: expected a positive integer, got 'eight'" in result.stderr
    assert f"{config}:8: adapter.rank: unknown key; did you mean 'r'?" in result.stderr
    assert f"{config}:10: train.lr: unknown key; did you mean 'learning_rate'?" in result.stderr
    assert not (tmp_path / "runs").exists(), "a bad config must not create a run folder"


def test_bad_override_exits_2():
    result = run_cli("--preset", "tiny-demo", "--headless", "--set", "train.max_steps=lots")
    assert result.returncode == 2
    assert "--set train.max_steps=lots: train.max_steps: expected an integer >= -1, got 'lots'" in result.stderr


def test_unknown_preset_suggests_the_closest():
    result = run_cli("--preset", "phi2-lora", "--headless")
    assert result.returncode == 2
    assert "unknown preset 'phi2-lora'" in result.stderr and "Did you mean 'phi2-qlora'?" in result.stderr


def test_missing_files_exit_2(tmp_path: Path):
    result = run_cli("train", str(tmp_path / "nope.yaml"), "--headless")
    assert result.returncode == 2 and "no such file" in result.stderr
    result = run_cli(
        "--preset",
        "tiny-demo",
        "--headless",
        "--set",
        "data.path=./missing.jsonl",
        "--set",
        f"output.runs_dir={tmp_path}",
    )
    assert result.returncode == 2
    assert "data.path: ./missing.jsonl: no such file or folder" in result.stderr


def test_without_a_terminal_the_wizard_points_to_headless():
    result = run_cli()
    assert result.returncode == 2
    assert "--headless" in result.stderr
    result = run_cli("--preset", "tiny-demo")
    assert result.returncode == 2
    assert "--headless" in result.stderr
