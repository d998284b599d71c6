"""The `ftwiz` command: parse arguments, call the verb in `ftwiz.commands`, render its result, map errors to exit
codes, and pick the front end (the wizard, the monitor, the headless follower). The work is in the commands.

Fast to start: nothing here imports torch, transformers or textual at import (a test checks it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ftwiz.cli import handlers
from ftwiz.cli.parser import build_parser
from ftwiz.errors import FtwizError

__all__ = ["build_parser", "main"]

# Subcommand -> handler(args, argv) -> exit code. No subcommand: `--preset` launches, nothing opens the wizard.
DISPATCH: dict[str, Callable[..., int]] = {
    "presets": handlers.presets,
    "inspect": handlers.inspect,
    "plan": handlers.plan,
    "data": handlers.data_check,
    "doctor": handlers.doctor,
    "train": handlers.launch,
    "runs": handlers.runs,
    "attach": handlers.attach,
    "stop": handlers.stop,
    "resume": handlers.resume,
    "chat": handlers.chat,
    "merge": handlers.merge,
    "push": handlers.push,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command in DISPATCH:
            return int(DISPATCH[args.command](args, argv))
        if args.preset:
            return int(handlers.launch(args, argv))
        return int(handlers.wizard(args))
    except FtwizError as exc:
        print(f"ftwiz: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
