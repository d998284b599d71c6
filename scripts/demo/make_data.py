"""Generate the tiny demo's instruction dataset: pull the fields out of a sentence as `key: value` lines.

    python scripts/demo/make_data.py      # writes src/ftwiz/assets/tiny-demo/data/train.jsonl

Deterministic (seeded). Chosen so that learning is visible on a ~2M-parameter model: the answer copies four
words from the prompt into a fixed, short format (tiny models copy short fields well, quoted JSON poorly).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from domain import task_example

OUT = Path(__file__).resolve().parents[2] / "src" / "ftwiz" / "assets" / "tiny-demo" / "data" / "train.jsonl"
ROWS = 2000
SYSTEM = "You extract fields from a sentence as key: value lines."
ASKS = ["Extract the fields: {s}", "Fields please: {s}", "{s}\nList name, item, count and city."]


def rows(seed: int = 1234) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(ROWS):
        sentence, answer = task_example(rng)
        messages = [
            {"role": "user", "content": rng.choice(ASKS).format(s=sentence)},
            {"role": "assistant", "content": answer},
        ]
        if rng.random() < 0.25:
            messages.insert(0, {"role": "system", "content": SYSTEM})
        out.append({"messages": messages})
    return out


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {ROWS} rows to {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
