"""The floors stay light at import (DESIGN.md): the list of modules comes from the import-linter contracts in
pyproject.toml, not from a hand-kept list, so a new module is checked the day it is added.

- Every module outside the worker side (the floors `ftwiz.train` and `ftwiz.after`) imports without torch,
  transformers, peft, trl or datasets: they load inside the functions that build or train a model.
- Every module outside the TUI's floor imports without textual, and the TUI itself without the ML stack, so the
  first screen draws at once (a worker thread imports the rest when a step needs it).
- The pure core (the `pure-core` contract's modules) is held to the same at import; lint-imports holds it to more
  (not even lazily).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ftwiz

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ML_STACK = ["torch", "transformers", "peft", "trl", "datasets"]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _floors() -> list[list[str]]:
    return [[name.strip() for name in layer.split("|")] for layer in _contracts()["floors"]["layers"]]


def _modules_under(package: str) -> list[str]:
    module = __import__(package, fromlist=["_"])
    if not hasattr(module, "__path__"):
        return [package]
    found = [package]
    found += [m.name for m in pkgutil.walk_packages(module.__path__, prefix=package + ".") if ".__main__" not in m.name]
    return found


def _floor_of(name: str) -> list[str]:
    return next(floor for floor in _floors() if name in floor)


def _heavy_after_importing(modules: list[str], heavy: list[str]) -> str:
    """Import `modules` in order in a fresh interpreter; the first that pulls in any of `heavy`, and which."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    pulled = [m for m in {heavy!r} if m in sys.modules]\n"
        "    if pulled:\n"
        "        print(name, 'pulled in', ','.join(pulled)); break\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


LIGHT_FLOORS = [
    name
    for floor in _floors()
    for name in floor
    if name not in (*_floor_of("ftwiz.train"), *_floor_of("ftwiz.after")) and not name.endswith("__main__")
]


@pytest.mark.parametrize("floor", LIGHT_FLOORS)
def test_each_floor_imports_without_the_ml_stack(floor: str):
    modules = _modules_under(floor)
    heavy = ML_STACK if floor in _floor_of("ftwiz.tui") else [*ML_STACK, "textual"]
    assert _heavy_after_importing(modules, heavy) == ""


def test_the_pure_core_imports_without_the_ml_stack_or_a_ui():
    modules = [m for source in _contracts()["pure-core"]["source_modules"] for m in _modules_under(source)]
    assert len(modules) > 10  # the walk found the core's modules
    assert _heavy_after_importing(modules, [*ML_STACK, "textual", "rich"]) == ""


def test_the_contracts_name_every_top_level_module():
    """A new package or module at the top of ftwiz must be given a floor, or no contract watches it."""
    on_a_floor = {name.removeprefix("ftwiz.") for floor in _floors() for name in floor}
    top = {m.name for m in pkgutil.iter_modules(ftwiz.__path__)}
    assert top <= on_a_floor, f"not on any floor in pyproject.toml: {sorted(top - on_a_floor)}"
