"""Follow a growing text file (train.log) cheaply: the last lines once, then only what was appended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TAIL_BYTES = 256 * 1024
"""How far back from the end the first read looks: a multi-megabyte log is never read whole."""


@dataclass
class TextTail:
    """`read_new()` returns complete new lines; the first call only the last `lines` of the file."""

    path: Path
    lines: int = 200
    _offset: int | None = None
    _partial: bytes = field(default=b"", repr=False)

    def read_new(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, 2)
                first = self._offset is None
                if first:
                    start = max(0, size - TAIL_BYTES)
                elif size < (self._offset or 0):
                    start = 0  # truncated or replaced: start over
                    self._partial = b""
                else:
                    start = self._offset or 0
                fh.seek(start)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset = start + len(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        if first and start > 0 and complete:
            complete = complete[1:]  # the first piece starts mid-line
        text = [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]
        return text[-self.lines :] if first or len(text) > self.lines else text
