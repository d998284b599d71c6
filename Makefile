# `make demo` and `make test` each create .venv when it is missing, install what is needed (once: a stamp
# records the install, so a second run installs nothing), then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftwiz-installed

# Without an NVIDIA GPU, install a CPU build of torch first: an unpinned `torch` pulls a multi-GB CUDA build.
# On a Linux laptop outside this project's machines, add the CPU wheel index, e.g.
#   make demo TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_CPU ?= torch==2.13.0
TORCH_INDEX_URL ?=
HAVE_NVIDIA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: demo test lint install clean

demo: $(STAMP)
	$(BIN)/ftwiz --preset tiny-demo --headless

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/lint-imports

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
ifneq ($(HAVE_NVIDIA),yes)
	$(BIN)/python -m pip install -q "$(TORCH_CPU)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
endif
	$(BIN)/python -m pip install -q -e ".[train,dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
