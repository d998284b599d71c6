"""Fit speed.py's four constants to the published throughput: a grid search for the smallest median |error|
over the counted rows (accuracy.py), printed beside the constants speed.py ships with.

    PYTHONPATH=src .venv/bin/python benchmarks/speed/fit.py [--holdout]

`--holdout` refits without each model in turn and scores the model left out (about a minute).

The constants and what they stand for (src/ftwiz/plan/speed.py): MFU_MAX and MFU_HALF_HIDDEN (utilisation
rising with the hidden size), LAUNCH_SECONDS (the CPU's kernel launches per decoder layer and pass, the floor a
small model on a short micro-batch cannot go under), DEQUANT_BYTES (a 4-bit base's dequantization per weight and
micro-batch, at the card's memory bandwidth). Each has a physical reading, so the grid stays in plausible
ranges; the shipped values are the fit's, rounded.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import accuracy  # benchmarks/speed/accuracy.py, beside this file

from ftwiz.plan import speed

GRID = {
    "MFU_MAX": [0.55, 0.60, 0.65, 0.70, 0.75, 0.80],
    "MFU_HALF_HIDDEN": [1024, 1536, 2048, 2560, 3072],
    "LAUNCH_SECONDS": [0.0009, 0.0011, 0.0013, 0.0015, 0.0017],
    "DEQUANT_BYTES": [30.0, 45.0, 60.0, 75.0, 90.0],
}


def score(cases: list[dict], **constants: float) -> tuple[float, dict[str, float]]:
    """The counted rows' median |error| under these constants (speed.py's own restored afterwards)."""
    saved = {k: getattr(speed, k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(speed, k, v)
        rows = [r for r in accuracy.evaluate(cases) if r["counted"]]
    finally:
        for k, v in saved.items():
            setattr(speed, k, v)
    by = {}
    for method in ("lora", "qlora"):
        mine = [r for r in rows if r["method"] == method]
        by[method] = accuracy.median_abs_error(mine) if mine else 0.0
    return accuracy.median_abs_error(rows), by


def fit(cases: list[dict]) -> list[tuple[float, dict[str, float]]]:
    """Every combination of the grid, best first."""
    results = []
    for values in itertools.product(*GRID.values()):
        constants = dict(zip(GRID, values, strict=True))
        results.append((score(cases, **constants)[0], constants))
    return sorted(results, key=lambda r: r[0])


def holdout(cases: list[dict]) -> None:
    """Fit without one model's rows, score that model's rows: how the constants carry to a model they never saw."""
    print("\n| held-out model | rows | fitted on the others | held-out median abs error |")
    print("| --- | --- | --- | --- |")
    models = sorted({c["model"] for c in cases if accuracy.counted(c)})
    for model in models:
        rest = [c for c in cases if c["model"] != model]
        held = [c for c in cases if c["model"] == model and accuracy.counted(c)]
        err, constants = fit(rest)[0]
        print(
            f"| {model} | {len(held)} | {err:.1f}% ({', '.join(f'{v:g}' for v in constants.values())}) | "
            f"{score(held, **constants)[0]:.1f}% |"
        )


def main() -> None:
    cases = accuracy.load_cases()
    shipped = {k: getattr(speed, k) for k in GRID}
    results = fit(cases)
    print("| median abs error | " + " | ".join(GRID) + " |")
    print("| --- |" + " --- |" * len(GRID))
    for err, constants in results[:8]:
        print(f"| {err:.1f}% | " + " | ".join(f"{constants[k]:g}" for k in GRID) + " |")
    err, by = score(cases, **shipped)
    print(
        f"\nshipped ({', '.join(f'{k}={v:g}' for k, v in shipped.items())}): median |error| {err:.1f}% "
        f"(lora {by['lora']:.1f}%, qlora {by['qlora']:.1f}%); {len(results)} combinations tried"
    )
    if "--holdout" in sys.argv:
        holdout(cases)


if __name__ == "__main__":
    main()
