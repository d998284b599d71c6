"""Every adapter type's preset trains a few steps on the tiny demo and reloads to the model it trained.

"Reloads" is checked the way a user would notice: the saved result, loaded by `ftwiz.after` (what `chat`,
`merge` and `push` use), answers the held-out prompts exactly as the model did at the end of training.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from ftwiz.runs.store import RunDir, read_status

PRESETS = ["ia3", "prompt-tuning", "prefix-tuning", "freeze", "pissa", "loraplus", "dora", "8bit"]
CASES = [pytest.param(p, [], id=p) for p in PRESETS] + [
    # OLoRA: like PiSSA, an initial adapter from the weights (QR here), converted on save to load on the base.
    pytest.param("pissa", ["adapter.init_lora_weights=olora"], id="olora"),
]


@pytest.mark.parametrize(("preset", "extra"), CASES)
def test_adapter_preset_trains_and_reloads(tmp_path, preset, extra):
    from ftwiz.after.load import load_for_generation
    from ftwiz.data.load import load_rows, split_rows
    from ftwiz.train.samples import generate, pick_prompts

    overrides = [f"output.runs_dir={tmp_path}", "train.max_steps=8", "data.val_size=8", "train.save_steps=1000"]
    overrides += extra
    result = run_cli("--preset", f"tiny-demo-{preset}", "--headless", *(a for o in overrides for a in ("--set", o)))
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    run = RunDir(next(tmp_path.iterdir()))
    final = read_status(run)["final"]
    assert final["steps"] == 8 and final["eval_loss"] < final["eval_loss_before"]
    records = json.loads(run.samples_json.read_text())
    model, tokenizer, config = load_for_generation(run)
    rows, _, _ = load_rows(config.data)
    _, held_out = split_rows(rows, config.data.val_size, config.train.seed)  # the worker's own split
    assert generate(model, tokenizer, pick_prompts(held_out)) == [r["after"] for r in records]
