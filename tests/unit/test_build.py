"""The trainer the worker builds: TRL's collation options as ftwiz's config keys ask for them."""

from __future__ import annotations

import pytest

from ftwiz import bundled


@pytest.mark.parametrize(("key", "padded"), [("packing", False), (None, True)])
def test_packed_batches_carry_no_padding(tmp_path, key, padded):
    import datasets
    from transformers import AutoModelForCausalLM

    from ftwiz.config.schema import RunConfig
    from ftwiz.runs.store import RunDir
    from ftwiz.train.build import load_tokenizer, make_trainer

    data = {"path": "x.jsonl", "max_length": 256, **({key: True} if key else {})}
    config = RunConfig.model_validate({"model": {"id": "ftwiz:tiny-demo/model"}, "data": data})
    tokenizer = load_tokenizer(config, [])
    model = AutoModelForCausalLM.from_pretrained(bundled.resolve("ftwiz:tiny-demo/model", key="model.id"))
    rows = [
        {"messages": [{"role": "user", "content": "Hi" * n}, {"role": "assistant", "content": "Hello"}]} for n in (1, 9)
    ]
    trainer = make_trainer(config, model, tokenizer, datasets.Dataset.from_list(rows), None, RunDir(tmp_path), [])
    ds = trainer.train_dataset
    batch = trainer.data_collator([ds[i] for i in range(len(ds))])
    real_tokens = sum(len(ds[i]["input_ids"]) for i in range(len(ds)))
    assert (batch["input_ids"].numel() > real_tokens) is padded
    assert (batch["labels"] != -100).sum() > 0
    if not padded:
        assert "position_ids" in batch  # how the model keeps the rows apart
