"""Exit codes and the errors a user can act on.

Exit codes are part of the interface (CONTRACTS.md): scripts branch on them. Every error that is the user's to
fix is a `BadInput` (exit 2) whose message says what was wrong, where, and what to do; the CLI prints it
without a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_FAILED = 1
    BAD_INPUT = 2
    STOPPED = 3


class FtwizError(Exception):
    """An error with a user-facing message and the exit code it maps to."""

    exit_code: ExitCode = ExitCode.RUN_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class BadInput(FtwizError):
    """The user's config, data, arguments or files are wrong: exit 2."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(BadInput):
    """A config that does not validate; one line per problem."""

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: invalid config" if source else "invalid config"
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{head} ({len(problems)} {noun}):\n" + "\n".join(f"  {p}" for p in problems))
