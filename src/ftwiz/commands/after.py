"""`ftwiz chat`, `merge`, `push`: use what a run trained. Light to import: torch, transformers and peft load only
inside the call."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ftwiz.after.chat import ChatOptions
from ftwiz.after.chat import chat as _chat
from ftwiz.after.merge import merge as _merge
from ftwiz.after.push import push as _push
from ftwiz.runs.store import RunDir

__all__ = ["ChatOptions", "chat", "merge", "push"]


def chat(run: RunDir, options: ChatOptions, prompt: str | None = None, out: TextIO = sys.stdout) -> int:
    """Talk to the run's model, tokens streamed to `out` as they come (one `prompt`, or an interactive session
    on this terminal, which is the command's whole job)."""
    return _chat(run, options, prompt=prompt, out=out)


def merge(run: RunDir, out: Path | None = None) -> Path:
    """Fold the adapter into its base and save a plain transformers model; returns its folder."""
    return _merge(run, out)


def push(run: RunDir, repo: str, *, merged: bool = False, private: bool = True) -> str:
    """Upload the adapter (or the merged model) with a model card; returns the repository URL."""
    return _push(run, repo, merged=merged, private=private)
