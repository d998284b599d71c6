"""How the monitor writes durations, sizes, counts and paths: short, and the same as the headless follower."""

from __future__ import annotations

import contextlib
from pathlib import Path


def fmt_duration(seconds: float | None) -> str:
    """41m10s, 1h20m, 2d03h: the two units that matter."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def fmt_gib(n: float | None) -> str:
    return "–" if n is None else f"{n / 1024**3:.1f} GiB"


def fmt_count(n: float) -> str:
    """1234567 -> 1.23M, matching `ftwiz inspect`."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it: shorter, and what the user typed."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
