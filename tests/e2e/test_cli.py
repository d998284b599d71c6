"""The CLI as a user meets it: version, presets, bad input with exit 2 and a message that says what to do."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY_LLAMA_CONFIG, run_cli, run_demo

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
    result = run_demo("train.max_steps=lots")
    assert result.returncode == 2
    assert "--set train.max_steps=lots: train.max_steps: expected an integer >= -1, got 'lots'" in result.stderr


def test_unknown_preset_suggests_the_closest():
    result = run_cli("--preset", "phi2-lora", "--headless")
    assert result.returncode == 2
    assert "unknown preset 'phi2-lora'" in result.stderr and "Did you mean 'phi2-qlora'?" in result.stderr


def test_missing_files_exit_2(tmp_path: Path):
    result = run_cli("train", str(tmp_path / "nope.yaml"), "--headless")
    assert result.returncode == 2 and "no such file" in result.stderr
    result = run_demo("data.path=./missing.jsonl", f"output.runs_dir={tmp_path}")
    assert result.returncode == 2
    assert "data.path: ./missing.jsonl: no such file or folder" in result.stderr


def test_without_a_terminal_the_wizard_points_to_headless():
    result = run_cli()
    assert result.returncode == 2
    assert "--headless" in result.stderr
    result = run_cli("--preset", "tiny-demo")
    assert result.returncode == 2
    assert "--headless" in result.stderr


LLAMA_CONFIG = TINY_LLAMA_CONFIG


def test_inspect_json_follows_the_contract(tmp_path: Path):
    import json

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    env = {"FTWIZ_CACHE_DIR": str(tmp_path / "cache")}
    result = run_cli("inspect", "--model", str(tmp_path), "--rank", "8", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing else on stdout
    for key in (
        "model_type",
        "params_total",
        "layers",
        "hidden_size",
        "vocab_size",
        "linear_groups",
        "fused_parameters",
        "targets",
        "trainable_params",
        "rank",
    ):
        assert key in data, key
    assert data["rank"] == 8 and data["layers"] == 2 and data["model_type"] == "llama"
    assert data["targets"]["attention_qv"] == ["q_proj", "v_proj"]
    # q_proj 64->64 and v_proj 64->32, two layers, r=8: 8 x (128 + 96) x 2
    assert data["trainable_params"]["attention_qv"] == 8 * (128 + 96) * 2
    group = {g["name"]: g for g in data["linear_groups"]}["v_proj"]
    assert group == {
        "name": "v_proj",
        "count": 2,
        "in_features": 64,
        "out_features": 32,
        "params": 4096,
        "kind": "attention_v",
    }
    assert list((tmp_path / "cache" / "inspect").glob("*.json")), "the inspection is cached"
    again = run_cli("inspect", "--model", str(tmp_path), "--json", env=env)
    assert json.loads(again.stdout)["trainable_params"]["attention_qv"] == 16 * (128 + 96) * 2


def test_inspect_table_and_bad_model(tmp_path: Path):
    result = run_cli("inspect", "--model", "ftwiz:tiny-demo/model", env={"FTWIZ_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0
    assert "Linear layers" in result.stdout and "LoRA targets" in result.stdout and "all_linear" in result.stdout
    missing = run_cli("inspect", "--model", "./no/such/model")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    assert run_cli("inspect", "--model", "x", "--rank", "0").returncode == 2


def test_train_refuses_remote_code_before_launching(tmp_path: Path):
    import json

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps(
            {**LLAMA_CONFIG, "model_type": "acme_arch", "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig"}}
        )
    )
    result = run_demo(f"model.id={model}", f"output.runs_dir={tmp_path / 'runs'}")
    assert result.returncode == 2
    assert "needs trust_remote_code" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_data_check_exit_codes_and_json(tmp_path: Path):
    import json

    good = run_cli("data", "check", "ftwiz:tiny-demo/data/train.jsonl", "--json")
    assert good.returncode == 0
    report = json.loads(good.stdout)
    assert report["format"] == "messages" and report["rows"] == report["valid_rows"] == 2000
    for key in ("errors", "error_count", "columns", "token_stats", "recommended_max_length", "loss_token_share"):
        assert key in report
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": ""}\n')
    result = run_cli("data", "check", str(bad))
    assert result.returncode == 2
    assert "line 2: text: missing or empty" in result.stdout


def test_bad_data_stops_before_a_run_folder_exists(tmp_path: Path):
    data = tmp_path / "alpaca.jsonl"
    data.write_text('{"instruction": "Say hi", "input": "", "output": "hi"}\n{"instruction": "", "output": "x"}\n')
    result = run_demo(f"data.path={data}", f"output.runs_dir={tmp_path / 'runs'}")
    assert result.returncode == 2
    assert "line 2: instruction: missing or empty" in result.stderr and "data.on_error: skip" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_data_check_with_the_models_tokenizer():
    import json

    result = run_cli(
        "data",
        "check",
        "ftwiz:tiny-demo/data/train.jsonl",
        "--tokenizer",
        "ftwiz:tiny-demo/model",
        "--seq-len",
        "64",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["token_stats"]["approximate"] is False
    assert report["token_stats"]["max"] <= 128 and report["recommended_max_length"] == 128
    assert 0.1 < report["loss_token_share"] < 0.5  # the answers, not the prompts
    assert report["rows_over_seq_len"] > 0
