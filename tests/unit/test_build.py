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


def test_cpt_cuts_a_long_document_into_max_length_blocks(tmp_path):
    """A 3,000-token document at max_length 256 trains as ~12 full blocks (TRL's 'wrapped' packing), not as its
    first 256 tokens; the decision says so."""
    import datasets
    from transformers import AutoModelForCausalLM

    from ftwiz.config.schema import RunConfig
    from ftwiz.runs.store import RunDir
    from ftwiz.train.build import load_tokenizer, make_trainer, packing

    # data.packing false on purpose: continued pretraining chunks anyway (a truncated document is lost text).
    data = {"path": "x.txt", "max_length": 256, "packing": False}
    config = RunConfig.model_validate({"model": {"id": "ftwiz:tiny-demo/model"}, "method": "cpt", "data": data})
    tokenizer = load_tokenizer(config, [])
    story = bundled.resolve("ftwiz:tiny-demo/data/stories.txt", key="data.path")
    with open(story, encoding="utf-8") as fh:
        words = fh.read().split()
    doc, n = "", 0
    while n < 3000:  # grow the document to just over 3,000 of the model's tokens
        doc = " ".join(words[: len(doc.split()) + 200])
        n = len(tokenizer(doc)["input_ids"])
    model = AutoModelForCausalLM.from_pretrained(bundled.resolve("ftwiz:tiny-demo/model", key="model.id"))
    trainer = make_trainer(
        config, model, tokenizer, datasets.Dataset.from_list([{"text": doc}]), None, RunDir(tmp_path), []
    )
    blocks = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    assert len(blocks) == -(-(n + 1) // 256) and 12 <= len(blocks) <= 13  # + EOS; every token kept
    assert sum(blocks) == n + 1 and max(blocks) == 256 and all(b == 256 for b in blocks[:-1])
    assert trainer.args.packing_strategy == "wrapped"
    assert "trains whole" in (packing(config)[2] or "")
    sft = config.model_copy(update={"method": "sft"})
    assert packing(sft) == (False, "bfd", None)  # other methods keep data.packing
