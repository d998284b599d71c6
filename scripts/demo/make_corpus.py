"""Generate the tiny demo's continued-pretraining corpus: plain-text stories, blank-line separated.

    python scripts/demo/make_corpus.py   # writes src/ftwiz/assets/tiny-demo/data/stories.txt

Deterministic (seeded), and from a seed the model did not pretrain on: new stories in the same little world.
"""

from __future__ import annotations

import random
from pathlib import Path

from domain import story

OUT = Path(__file__).resolve().parents[2] / "src" / "ftwiz" / "assets" / "tiny-demo" / "data" / "stories.txt"
DOCUMENTS = 800


def main() -> None:
    rng = random.Random(777)
    OUT.write_text("\n\n".join(story(rng, rng.randint(3, 6)) for _ in range(DOCUMENTS)) + "\n", encoding="utf-8")
    print(f"wrote {DOCUMENTS} documents to {OUT}")


if __name__ == "__main__":
    main()
