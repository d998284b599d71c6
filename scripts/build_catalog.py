"""Precompute the inspection of every config in src/ftwiz/models/catalog/ (<id>.inspect.json beside it), so
`ftwiz inspect` and the planner answer instantly for catalog models, without torch.

    .venv/bin/python scripts/build_catalog.py
"""

from __future__ import annotations

import json
import time

from ftwiz.files import write_json_atomic
from ftwiz.models import cache
from ftwiz.models.inspect import INSPECTION_VERSION, build_meta_model, inspect_model
from ftwiz.models.resolve import CATALOG
from ftwiz.views import human


def main() -> None:
    print("| model | type | params | layers | all_linear r16 | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sorted(CATALOG.glob("*--*.json")):
        if path.name.endswith(".inspect.json"):
            continue
        config = json.loads(path.read_text())
        key = cache.config_key(config, INSPECTION_VERSION)
        start = time.perf_counter()
        result = {**inspect_model(build_meta_model(config), rank=16), "config_key": key}
        write_json_atomic(path.with_suffix(".inspect.json"), result)
        took = time.perf_counter() - start
        model_id = path.stem.replace("--", "/", 1)
        print(
            f"| {model_id} | {result['model_type']} | {human(result['params_total'])} | {result['layers']} | "
            f"{human(result['trainable_params']['all_linear'])} | {took:.1f} |"
        )


if __name__ == "__main__":
    main()
