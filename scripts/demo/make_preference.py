"""Generate the tiny demo's preference pairs (for DPO) from its instruction data: the right fields are chosen, the
same answer with one field wrong (another row's city, count or name) is rejected. Also KTO's unpaired feedback:
each prompt once, with either the right answer (label true) or a wrong one (label false), about 55% right.

    python scripts/demo/make_preference.py   # writes preference.jsonl and feedback.jsonl
                                             # in src/ftwiz/assets/tiny-demo/data/

Deterministic (seeded): a preference set whose signal a ~2M-parameter model can learn in a minute.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "src" / "ftwiz" / "assets" / "tiny-demo" / "data"
ROWS = 600


def corrupt(answer: str, other: str, rng: random.Random) -> str:
    """The answer with one field taken from another row's answer (a plausible, wrong extraction)."""
    mine = dict(line.split(": ", 1) for line in answer.splitlines())
    theirs = dict(line.split(": ", 1) for line in other.splitlines())
    keys = [k for k in mine if mine[k] != theirs.get(k)]
    key = rng.choice(keys)
    mine[key] = theirs[key]
    return "\n".join(f"{k}: {v}" for k, v in mine.items())


def main() -> None:
    rng = random.Random(4321)
    rows = [json.loads(line) for line in (DATA / "train.jsonl").read_text(encoding="utf-8").splitlines()][:ROWS]
    with (DATA / "preference.jsonl").open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            *prompt, answer = row["messages"]
            other = rows[(i + 1 + rng.randrange(len(rows) - 1)) % len(rows)]["messages"][-1]["content"]
            pair = {
                "prompt": prompt,
                "chosen": [answer],
                "rejected": [{"role": "assistant", "content": corrupt(answer["content"], other, rng)}],
            }
            fh.write(json.dumps(pair) + "\n")
    print(f"wrote {ROWS} pairs to {DATA / 'preference.jsonl'}")
    feedback_rng = random.Random(8765)  # its own stream: preference.jsonl stays as it was
    with (DATA / "feedback.jsonl").open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            *prompt, answer = row["messages"]
            good = feedback_rng.random() < 0.55
            if not good:
                other = rows[(i + 1 + feedback_rng.randrange(len(rows) - 1)) % len(rows)]["messages"][-1]["content"]
                answer = {"role": "assistant", "content": corrupt(answer["content"], other, feedback_rng)}
            fh.write(json.dumps({"prompt": prompt, "completion": [answer], "label": good}) + "\n")
    print(f"wrote {ROWS} feedback rows to {DATA / 'feedback.jsonl'}")


if __name__ == "__main__":
    main()
