"""After training, on the demo's result: chat with it, merge it into its base, push it to a (fake) hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FAKE_TOKEN, run_cli
from ftwiz.runs.store import RunDir


def _held_out(run: Path) -> tuple[str, str]:
    record = json.loads((run / "samples.json").read_text())[0]
    user = record["prompt"].split("user: ", 1)[1]
    return user, record["expected"]


def test_chat_answers_a_held_out_prompt_like_the_trained_model(demo_run):
    _, run = demo_run
    prompt, expected = _held_out(run)
    result = run_cli("chat", str(run), "--prompt", prompt, "--greedy", "--max-new-tokens", "40")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_merge_gives_the_logits_of_base_plus_adapter(demo_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from ftwiz.after.load import load_for_generation

    _, run = demo_run
    out = tmp_path / "merged"
    result = run_cli("merge", str(run), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out) and (out / "model.safetensors").is_file()
    assert not (out / "adapter_config.json").exists()  # a plain model: no PEFT needed to load it
    merged = AutoModelForCausalLM.from_pretrained(str(out))
    with_adapter, tokenizer, _ = load_for_generation(RunDir(run))
    ids = tokenizer(_held_out(run)[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-4)
    again = run_cli("merge", str(run), "--out", str(out))
    assert again.returncode == 2 and "not empty" in again.stderr


class FakeHub:
    """The two HfApi calls push makes, recording what would be uploaded."""

    def __init__(self, root: Path) -> None:
        self.root, self.repos = root, {}

    def create_repo(self, repo_id: str, private: bool, exist_ok: bool) -> str:
        self.repos[repo_id] = {"private": private}
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, repo_id: str, folder_path: str, commit_message: str) -> None:
        target = self.root / repo_id
        for file in Path(folder_path).rglob("*"):
            if file.is_file():
                dest = target / file.relative_to(folder_path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(file.read_bytes())
        self.repos[repo_id]["commit"] = commit_message


def test_push_uploads_the_adapter_with_a_card_and_no_token(demo_run, tmp_path, monkeypatch):
    from ftwiz.after.push import push

    _, run = demo_run
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    hub = FakeHub(tmp_path / "hub")
    url = push(RunDir(run), "me/tiny-demo-lora", api=hub)
    assert url == "https://huggingface.co/me/tiny-demo-lora" and hub.repos["me/tiny-demo-lora"]["private"]
    uploaded = {p.name: p for p in (tmp_path / "hub/me/tiny-demo-lora").rglob("*") if p.is_file()}
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md", "tokenizer.json"} <= set(uploaded)
    card = uploaded["README.md"].read_text()
    assert "base_model: ftwiz:tiny-demo/model" in card and "eval loss:" in card and "| learning rate | 0.003 |" in card
    for path in [*uploaded.values(), *run.rglob("*")]:
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path


def test_push_without_a_token_says_how_to_get_one(demo_run, tmp_path):
    _, run = demo_run
    env = {"HF_TOKEN": "", "HF_HOME": str(tmp_path), "HUGGING_FACE_HUB_TOKEN": ""}
    result = run_cli("push", str(run), "--repo", "me/x", env=env)
    assert result.returncode == 2 and "huggingface-cli login" in result.stderr


@pytest.mark.parametrize("command", ["chat", "merge"])
def test_a_run_without_an_adapter_is_refused(tmp_path, command):
    from ftwiz.commands.launch import prepare_run
    from ftwiz.config.presets import load_config

    config = load_config("tiny-demo", [f"output.runs_dir={tmp_path}"]).config
    run = prepare_run(config, argv=["ftwiz"])
    result = run_cli(command, str(run.path), *(["--prompt", "hi"] if command == "chat" else []))
    assert result.returncode == 2 and "no saved adapter" in result.stderr
