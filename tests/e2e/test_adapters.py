"""Every adapter type trains a few steps on the tiny demo and reloads to the model it trained.

"Reloads" is checked the way a user would notice: the saved result, loaded by `ftwiz.after` (what `chat`,
`merge` and `push` use), answers the held-out prompts exactly as the model did at the end of training.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_demo
from ftwiz.runs.store import RunDir, read_status

CASES = {
    "ia3": ("adapter.type=ia3",),
    "prompt_tuning": ("adapter.type=prompt_tuning", "adapter.num_virtual_tokens=8"),
    "prefix_tuning": ("adapter.type=prefix_tuning", "adapter.num_virtual_tokens=8"),
    "freeze": ("adapter.type=freeze", "adapter.trainable_layers=1"),
    "pissa": ("adapter.init_lora_weights=pissa",),
    "loraplus": ("adapter.loraplus_lr_ratio=16",),
    "dora": ("adapter.use_dora=true",),
    "lora_8bit": ("quant.bits=8",),
}


@pytest.mark.parametrize("case", list(CASES))
def test_adapter_trains_and_reloads(tmp_path, case):
    from ftwiz.after.load import load_for_generation
    from ftwiz.data.load import load_rows, split_rows
    from ftwiz.train.samples import generate, pick_prompts

    result = run_demo(
        f"output.runs_dir={tmp_path}", "train.max_steps=8", "data.val_size=8", "train.save_steps=1000", *CASES[case]
    )
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    run = RunDir(next(tmp_path.iterdir()))
    final = read_status(run)["final"]
    assert final["steps"] == 8 and final["eval_loss"] < final["eval_loss_before"]
    records = json.loads(run.samples_json.read_text())
    model, tokenizer, config = load_for_generation(run)
    rows, _, _ = load_rows(config.data)
    _, held_out = split_rows(rows, config.data.val_size, config.train.seed)  # the worker's own split
    assert generate(model, tokenizer, pick_prompts(held_out)) == [r["after"] for r in records]
