"""`ftwiz attach`: the monitor screen as an app of its own, and what to print once the user leaves it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.console import Console
from textual import events
from textual.binding import Binding, BindingType

from ftwiz.errors import BadInput, ExitCode
from ftwiz.runs.store import ACTIVE_STATES, RunDir, effective_state, read_status
from ftwiz.tui.failures import ReportsFailures, fatal_message, quiet_libraries
from ftwiz.tui.monitor.screen import POLL_SECONDS, MonitorScreen
from ftwiz.tui.widgets import too_small


class MonitorApp(ReportsFailures):
    """`ftwiz attach`: the monitor screen on its own. Exits with the run's state when the user leaves; a failure
    in a palette command or a handler is reported and the monitor goes on (tui/failures.py)."""

    TITLE = "ftwiz monitor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "hide_help_panel", show=False)  # the palette's "Keys" panel closes as any popup does
    ]

    def __init__(
        self, run: RunDir, *, clock: Callable[[], float] = time.time, poll_seconds: float = POLL_SECONDS
    ) -> None:
        super().__init__()
        self._said_too_small = False
        self.run_dir = run
        self.clock = clock
        self.poll_seconds = poll_seconds

    def on_resize(self, event: events.Resize) -> None:
        """Say once, each time the terminal shrinks below 80x24, that panels are cramped (rather than cut)."""
        message = too_small(event.size.width, event.size.height)
        if message and not self._said_too_small:
            self.notify(message, title="Small terminal", severity="warning", timeout=8)
        self._said_too_small = message is not None

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen(self.run_dir, clock=self.clock, poll_seconds=self.poll_seconds), self.exit)

    def action_help_quit(self) -> None:
        """Ctrl-C stops a headless run; here it does nothing, so say what does."""
        self.notify("[b]q[/] leaves the monitor (the run goes on); [b]s[/] stops the run.", title="Ctrl-C")


def leave_message(run: RunDir) -> str | None:
    """What to print after the monitor closes on a run that is still going: where it is, how to come back."""
    state = effective_state(read_status(run))
    if state not in ACTIVE_STATES:
        return None
    return f"Left the monitor. Run {run.id} goes on in the background; come back with: ftwiz attach {run.id}"


def outcome_message(run: RunDir) -> str:
    """What is true of the run once the user leaves its monitor (or the wizard that launched it): still going,
    and how to come back; completed, and where the adapter is; or failed/stopped/died, why, and what next."""
    going = leave_message(run)
    if going is not None:
        return going
    status = read_status(run)
    state = effective_state(status)
    if state == "completed":
        where = f"the adapter is in {run.adapter}" if run.adapter.exists() else f"its folder is {run.path}"
        return f"Run {run.id} completed; {where}. Try it with: ftwiz chat {run.id}"
    if state == "stopped":
        return f"Run {run.id} stopped at step {status.get('step', 0)}; continue it with: ftwiz resume {run.id}"
    error = (status.get("error") or {}).get("summary") or "the worker ended without a final state"
    first = " / ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"Run {run.id} {state}: {first}. Its log: {run.log}; after a fix: ftwiz resume {run.id}"


def run_monitor(run: RunDir) -> int:
    """Show the monitor until the user leaves, then say what is true of the run. Leaving never stops the run,
    so this returns 0, unless the monitor itself stopped on an internal error (1, with the log's path)."""
    if not run.path.is_dir():
        raise BadInput(f"no run folder at {run.path}", hint="`ls runs/` lists the runs.")
    quiet_libraries()
    app = MonitorApp(run)
    app.run()
    if fatal := fatal_message(app, "the monitor"):
        Console(stderr=True, soft_wrap=True).print(fatal, highlight=False, markup=False)
        return int(ExitCode.RUN_FAILED)
    Console(soft_wrap=True).print(outcome_message(run), highlight=False, markup=False)
    return int(ExitCode.OK)
