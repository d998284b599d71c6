"""`ftwiz presets`: the shipped presets, each with its one-line description."""

from __future__ import annotations

from ftwiz.config.presets import PresetInfo, list_presets


def run() -> list[PresetInfo]:
    return list_presets()
