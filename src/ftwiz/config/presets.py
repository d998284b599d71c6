"""Load a RunConfig from a preset or a YAML file, with `--set key.path=value` overrides.

Every problem is reported with where it came from: `file.yaml:LINE` for a key in a file, the `--set` text
for an override. Pure: PyYAML and pydantic only.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ftwiz.config.problems import Loc, format_problems
from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput, ConfigError

_REPO_PRESETS = Path(__file__).resolve().parents[3] / "presets"


def presets_dir() -> Path:
    """The shipped presets: inside the installed package (wheel), or the repository's `presets/` (editable)."""
    packaged = Path(str(resources.files("ftwiz"))) / "presets"
    return packaged if packaged.is_dir() else _REPO_PRESETS


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    path: Path


def list_presets() -> list[PresetInfo]:
    """Every shipped preset with its one-line description, sorted by name."""
    infos = []
    for path in sorted(presets_dir().glob("*.yaml")):
        data, _ = read_yaml(path)
        infos.append(PresetInfo(path.stem, str(data.get("description", "")).strip(), path))
    return infos


def find_preset(name_or_file: str) -> Path:
    """A preset name (`phi2-qlora`) or the path of a YAML file."""
    path = Path(name_or_file).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise BadInput(
                f"{name_or_file}: no such file",
                hint="Give a preset name (see `ftwiz presets`) or a YAML file.",
            )
        return path
    shipped = {p.stem: p for p in presets_dir().glob("*.yaml")}
    if name_or_file in shipped:
        return shipped[name_or_file]
    close = difflib.get_close_matches(name_or_file, list(shipped), n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise BadInput(
        f"unknown preset '{name_or_file}'",
        hint=f"{hint}Available: {', '.join(sorted(shipped))} (or give the path of a YAML file).",
    )


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[Loc, str]]:
    """The mapping in a YAML file and, for each key path, `file:line` where it was written."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"{where}: YAML syntax error: {problem}", hint="Fix the YAML syntax and try again.") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInput(
            f"{path}:1: expected a mapping of config sections (model:, data:, ...), got {type(data).__name__}"
        )
    origins: dict[Loc, str] = {}
    _record_lines(node, (), path, origins)
    return data, origins


def _record_lines(node: yaml.Node | None, prefix: Loc, path: Path, origins: dict[Loc, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, key_node.value)
            origins[key] = f"{path}:{key_node.start_mark.line + 1}"
            _record_lines(value_node, key, path, origins)


def parse_override(text: str) -> tuple[Loc, Any]:
    """`train.learning_rate=1e-4` -> (('train', 'learning_rate'), 0.0001). Values are read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise BadInput(f"--set {text}: expected KEY.PATH=VALUE, e.g. --set train.learning_rate=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML: take it as the string the user typed
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)  # YAML 1.1 reads `1e-4` (no dot) as a string
    return tuple(key.split(".")), value


def apply_overrides(data: dict[str, Any], overrides: list[str], origins: dict[Loc, str]) -> dict[str, Any]:
    """A copy of `data` with each `--set` applied in order (later wins)."""
    merged = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = merged
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise BadInput(f"--set {text}: '{where}' is a value, not a section")
            node = child
        node[path[-1]] = value
        for end in range(1, len(path) + 1):
            origins[path[:end]] = f"--set {text}"
    return merged


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def validate(data: dict[str, Any], origins: dict[Loc, str] | None = None, source: str | None = None) -> RunConfig:
    """A RunConfig, or a ConfigError with one line per problem."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_problems(exc, RunConfig, origins), source=source) from None


@dataclass(frozen=True)
class LoadedConfig:
    config: RunConfig
    source: Path
    preset_name: str | None


def load_config(name_or_file: str, overrides: Sequence[str] = ()) -> LoadedConfig:
    """A preset name or YAML file, plus overrides, validated."""
    path = find_preset(name_or_file)
    data, origins = read_yaml(path)
    data = apply_overrides(data, list(overrides), origins)
    preset = path.stem if path.parent == presets_dir() else None
    return LoadedConfig(validate(data, origins, source=str(path)), path, preset)


def load_config_file(path: Path) -> RunConfig:
    """A frozen config (e.g. `runs/<id>/config.yaml`), validated."""
    data, origins = read_yaml(Path(path))
    return validate(data, origins, source=str(path))


def to_yaml(config: RunConfig) -> str:
    """The config as YAML, every key spelled out (what `runs/<id>/config.yaml` holds)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
