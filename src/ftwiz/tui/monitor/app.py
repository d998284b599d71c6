"""`ftwiz attach`: the monitor screen as an app of its own, and what to print once the user leaves it."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from textual.app import App

from ftwiz.errors import BadInput, ExitCode
from ftwiz.runs.store import ACTIVE_STATES, RunDir, effective_state, read_status
from ftwiz.tui.monitor.screen import POLL_SECONDS, MonitorScreen


class MonitorApp(App[str]):
    """`ftwiz attach`: the monitor screen on its own. Exits with the run's state when the user leaves."""

    TITLE = "ftwiz monitor"

    def __init__(
        self, run: RunDir, *, clock: Callable[[], float] = time.time, poll_seconds: float = POLL_SECONDS
    ) -> None:
        super().__init__()
        self.run_dir = run
        self.clock = clock
        self.poll_seconds = poll_seconds

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


def run_monitor(run: RunDir) -> int:
    """Show the monitor until the user leaves. Leaving never stops the run, so this returns 0."""
    if not run.path.is_dir():
        raise BadInput(f"no run folder at {run.path}", hint="`ls runs/` lists the runs.")
    MonitorApp(run).run()
    message = leave_message(run)
    if message:
        Console(soft_wrap=True).print(message, highlight=False, markup=False)
    return int(ExitCode.OK)
