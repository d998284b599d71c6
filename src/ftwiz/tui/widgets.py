"""Textual widgets with the keys and looks a keyboard user over SSH expects, used by every step.

Textual's `Select` opens its menu on Up/Down as well as Enter/Space, so walking the form with the arrows keeps
opening menus; its `Checkbox` draws the same `▐X▌` on and off, told apart only by a shade. These subclasses change
just that."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, Select


class Dropdown(Select[Any]):
    """A Select whose menu opens on Enter or Space; Up/Down move to the previous/next field."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "show_overlay", "Show menu", show=False),
        Binding("up", "app.focus_previous", "Previous field", show=False),
        Binding("down", "app.focus_next", "Next field", show=False),
    ]


class Tick(Checkbox):
    """A Checkbox that shows ✓ when on and nothing when off, not the same X in another shade."""

    @property
    def BUTTON_INNER(self) -> str:  # Textual's name for the glyph, read on every render
        return "✓" if self.value else " "


MIN_SIZE = (80, 24)
"""The smallest terminal every screen is laid out for (an SSH session's default)."""


def too_small(width: int, height: int) -> str | None:
    """What to tell the user when the terminal is smaller than MIN_SIZE (None: it is big enough)."""
    if width >= MIN_SIZE[0] and height >= MIN_SIZE[1]:
        return None
    return (
        f"The terminal is {width}×{height}; ftwiz is laid out for {MIN_SIZE[0]}×{MIN_SIZE[1]} or more, so some "
        "panels are cramped. Enlarge the window (or zoom out)."
    )
