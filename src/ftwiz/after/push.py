"""`ftwiz push RUN --repo ID [--merged]`: upload the adapter (or the merged model) with a generated model card.

The token comes from the environment (`HF_TOKEN`) or `huggingface-cli login`, through huggingface_hub; it is
never written to the run folder, the card or the log. The upload is staged in a temporary folder, so the run
folder is not changed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ftwiz.after.card import model_card
from ftwiz.after.load import trained_config
from ftwiz.errors import BadInput
from ftwiz.runs.store import RunDir, read_status

SKIP = {"training_args.bin"}  # a pickle of TrainingArguments: nothing a user of the model needs


def push(run: RunDir, repo_id: str, *, merged: bool = False, private: bool = True, api: Any = None) -> str:
    """Upload; returns the repository URL. `api` is an `HfApi` (tests pass a fake)."""
    from huggingface_hub import HfApi, get_token

    config = trained_config(run)
    source = run.path / "merged" if merged else run.adapter
    if merged and not (source / "config.json").is_file():
        raise BadInput(f"{run.id} has no merged model yet", hint=f"Merge it first: ftwiz merge {run.id}")
    if api is None:
        if not get_token():
            raise BadInput(
                "no Hugging Face token", hint="Set HF_TOKEN, or run `huggingface-cli login` once on this machine."
            )
        api = HfApi()
    card = model_card(config, read_status(run), merged=merged, repo_id=repo_id)
    with tempfile.TemporaryDirectory(prefix="ftwiz-push-") as tmp:
        stage = Path(tmp)
        for item in source.iterdir():
            if item.name in SKIP or item.name.startswith("."):
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, stage / item.name)
        (stage / "README.md").write_text(card, encoding="utf-8")
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(stage), commit_message=f"ftwiz: {run.id}")
    return str(url)
