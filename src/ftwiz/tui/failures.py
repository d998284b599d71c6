"""One error path for the TUI: every failed worker, palette command or handler ends here, never as a traceback.

Textual sends every exception it catches (a worker's, a message handler's, a timer's) to `App._handle_exception`,
which by default prints a traceback and exits with status 1 - the only hook it offers, so `ReportsFailures`
overrides it. Whatever a worker or a palette command raised is written to the log with its traceback and shown -
a toast for what the user can act on (an `FtwizError`: bad input, a hub that cannot be reached), a modal for a
bug - and the app goes on. Palette commands are wrapped (`guarded`) so their errors never reach Textual. Anything
else was raised in a message handler, whose message loop Textual ends with it: it is logged, then the app exits
as Textual would, with status 1, and the CLI prints where the log is.

The log is `wizard.log` in ftwiz's cache folder (`~/.cache/ftwiz/`), the file `quiet_libraries` also sends the
libraries' warnings to; it is appended to directly, so a failure is recorded even when logging is not set up.
"""

from __future__ import annotations

import logging
import os
import traceback
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import WorkerFailed

from ftwiz.errors import FtwizError
from ftwiz.models.cache import cache_dir
from ftwiz.redact import redact

LOG_NAME = "wizard.log"


def log_path() -> Path:
    """Where the TUI writes tracebacks (and `quiet_libraries` the libraries' noise)."""
    return cache_dir() / LOG_NAME


def quiet_libraries(path: Path | None = None) -> None:
    """Library noise (warnings, transformers/bitsandbytes logging) goes to a log file, never onto the screen."""
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def record(error: BaseException, context: str) -> Path | None:
    """Append `error`'s traceback to the log; its path, or None when even that cannot be written."""
    path = log_path()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(redact(f"{stamp} ERROR ftwiz.tui: {context}\n{''.join(lines)}\n"))  # no tokens in logs
    except OSError:
        return None
    return path


class ErrorDialog(ModalScreen[None]):
    """A bug met while the app goes on: what failed, where the traceback is, and that nothing else was lost."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    ErrorDialog { align: center middle; }
    ErrorDialog > Vertical {
        width: 70; max-width: 95%; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    ErrorDialog Button { margin: 1 0 0 0; }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._text, id="error-text", markup=False)
            yield Button("OK", id="error-ok", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()


class ReportsFailures(App[Any]):
    """An App whose failures go through `report` (see the module docstring). `failed` holds what was reported
    (the tests read it); `log_file` is set once a fatal error has been logged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed: list[BaseException] = []
        self.log_file: Path | None = None

    def report(self, error: BaseException, context: str = "") -> None:
        """Log `error` with its traceback and show it; the app goes on."""
        self.failed.append(error)
        where = record(error, context or "error")
        if isinstance(error, FtwizError):
            self.notify(str(error), title="ftwiz", severity="error", timeout=12, markup=False)
            return
        detail = f"The traceback is in {where}." if where else "The traceback could not be written."
        during = f" ({context})" if context else ""
        text = f"Something went wrong{during}:\n{error!r}\n\n{detail}\nNothing else was lost."
        self.push_screen(ErrorDialog(text))

    def guarded(self, callback: Callable[[], Any], context: str) -> Callable[[], Any]:
        """`callback` with its failures reported instead of raised: for palette commands and other entry points."""

        def run() -> Any:
            try:
                return callback()
            except Exception as exc:
                self.report(exc, context)
                return None

        return run

    def _handle_exception(self, error: Exception) -> None:
        # Textual's one hook for every uncaught exception (see the module docstring).
        if isinstance(error, WorkerFailed):
            inner = error.error
            self.report(inner, "a background task failed")
            return
        # Anything else was raised in a message handler or a timer, whose message loop Textual has now ended: going
        # on would leave a frozen app, so log it and exit as Textual does (status 1, the terminal restored).
        self.log_file = record(error, "the app stopped on an unexpected error")
        super()._handle_exception(error)


def fatal_message(app: ReportsFailures, name: str = "the wizard") -> str | None:
    """What the CLI prints after the app ended on an unexpected error (non-zero return code), else None."""
    if not app.return_code:
        return None
    where = app.log_file or log_path()
    return f"ftwiz: {name} stopped on an internal error; the traceback is in {where}"
