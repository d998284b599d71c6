"""The recommender's choice for 3B / 8B / 14B models on the common cards, under the installed TRL's fused LM head
and under the old full-logits model (`--loss full`), as a table for the README.

    .venv/bin/python benchmarks/memory/recommendations.py
"""

from __future__ import annotations

import json

from ftwiz.hardware.gpus import parse_gpu
from ftwiz.models.resolve import catalog_file
from ftwiz.models.spec import spec_from_config
from ftwiz.plan.choices import Knobs
from ftwiz.plan.recommend import recommend

MODELS = ("meta-llama/Llama-3.2-3B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-14B-Instruct")
CARDS = ("T4", "L4", "A10G", "RTX-4090", "A100-80GB", "H100-80GB")


def choice(model: str, card: str, loss: str) -> str:
    path = catalog_file(model)
    spec = spec_from_config(json.loads(path.read_text()))
    inspection = json.loads(path.with_suffix(".inspect.json").read_text())
    plan = recommend(spec, inspection, parse_gpu(card), Knobs(loss=loss))
    s = plan.best.setup
    if not plan.best.fits:
        return "nothing fits"
    ckpt = "ckpt" if s.gradient_checkpointing else "no ckpt"
    return f"{s.adapter} b{s.batch_size} {ckpt}, {plan.best.memory.total / 2**30:.1f} GiB"


def main() -> None:
    print("| model | card | fused head (TRL 1.16) | full logits (before) |")
    print("| --- | --- | --- | --- |")
    for model in MODELS:
        for card in CARDS:
            print(
                f"| {model.split('/')[1]} | {card} | {choice(model, card, 'fused')} | {choice(model, card, 'full')} |"
            )


if __name__ == "__main__":
    main()
