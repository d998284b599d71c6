"""RunConfig, presets and overrides (pure: no torch)."""

from ftwiz.config.presets import list_presets, load_config, load_config_file
from ftwiz.config.schema import RunConfig

__all__ = ["RunConfig", "list_presets", "load_config", "load_config_file"]
