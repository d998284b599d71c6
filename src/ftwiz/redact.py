"""Keep secrets out of run folders and logs."""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"hf_[A-Za-z0-9]{8,}"),  # Hugging Face access tokens
    re.compile(r"(?i)((?:token|password|secret|api[_-]?key)[A-Za-z_]*\s*[=:]\s*)(\S+)"),
]


def redact(text: str) -> str:
    """The text with access tokens and `token=...`-style values replaced by ***."""
    text = _PATTERNS[0].sub("hf_***", text)
    return _PATTERNS[1].sub(lambda m: m.group(1) + "***", text)
