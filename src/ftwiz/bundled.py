"""References to what ships inside the package: `ftwiz:tiny-demo/model` -> <package>/assets/tiny-demo/model.

Presets must work after a plain `pip install`, wherever the package lands, so they name bundled models and
datasets by this prefix instead of by a path.
"""

from __future__ import annotations

from pathlib import Path

from ftwiz.errors import BadInput

PREFIX = "ftwiz:"
ASSETS = Path(__file__).resolve().parent / "assets"


def is_bundled(ref: str) -> bool:
    return ref.startswith(PREFIX)


def resolve(ref: str, *, key: str) -> str:
    """A bundled reference as a local path; any other reference unchanged. `key` names the config key."""
    if not is_bundled(ref):
        return ref
    path = ASSETS / ref[len(PREFIX) :]
    if not path.exists():
        available = sorted(str(p.relative_to(ASSETS)) for p in ASSETS.glob("*/*") if p.is_dir())
        raise BadInput(
            f"{key}: no bundled asset '{ref}'",
            hint=f"Bundled: {', '.join(PREFIX + a for a in available) or 'none'}.",
        )
    return str(path)
