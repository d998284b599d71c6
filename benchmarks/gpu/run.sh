#!/usr/bin/env bash
# The GPU kit: the planner's estimate beside measurements of ftwiz's own training code on this machine's GPU.
#   bash benchmarks/gpu/run.sh            # ~9 rows + the recommender's choice for 3 models, under 8 minutes
#   bash benchmarks/gpu/run.sh --smoke    # the two smallest rows, shrunk, on the CPU (what CI runs)
# Offline by design: nothing is downloaded or installed; weights are random, the tokenizer is the tiny demo's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python3
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu/measure.py "$@"
