"""Time `ftwiz inspect` as a user runs it (whole process): cold (empty cache, meta-device build) and cached.

Target (issue 3): a 70B config in under 10 s the first time on 2 CPU cores; a cached or catalog model in well
under a second.

    .venv/bin/python benchmarks/inspect_time.py [MODEL ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

DEFAULT = ["ftwiz:tiny-demo/model", "meta-llama/Llama-3.1-70B-Instruct", "mistralai/Mixtral-8x7B-Instruct-v0.1"]


def timed(model: str, cache: str) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ftwiz", "inspect", "--model", model, "--json"],
        capture_output=True,
        env={**os.environ, "FTWIZ_CACHE_DIR": cache},
    )
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    models = sys.argv[1:] or DEFAULT
    print(f"# ftwiz inspect, whole process, {os.cpu_count()} CPUs")
    print("| model | cold (s) | cached (s) | exit |")
    print("| --- | --- | --- | --- |")
    for model in models:
        with tempfile.TemporaryDirectory() as cache:
            # A catalog model ships its inspection precomputed: "cold" is then already instant.
            cold, code = timed(model, cache)
            warm, _ = timed(model, cache)
        print(f"| {model} | {cold:.2f} | {warm:.2f} | {code} |")


if __name__ == "__main__":
    main()
