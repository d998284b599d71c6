"""The monitor's command palette provider (ctrl+p): its keys as palette entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ftwiz.tui.failures import ReportsFailures


class MonitorCommands(Provider):
    """The monitor's keys as command palette entries (ctrl+p), for those who look there first."""

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        """The entries, each through the app's error path when it has one (a failing command is reported)."""
        for name, help_text, callback in self._entries():
            app = self.app
            yield name, help_text, app.guarded(callback, name) if isinstance(app, ReportsFailures) else callback

    def _entries(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        from ftwiz.tui.monitor.screen import MonitorScreen  # late: the screen lists this provider in COMMANDS

        screen = self.screen
        if not isinstance(screen, MonitorScreen):
            return
        if screen.can_stop:
            yield "Stop the run", "Ask the worker to stop after this step, keeping a checkpoint", screen.action_stop
        if screen.can_resume:
            yield "Resume the run", "Start its worker again from its last checkpoint", screen.action_resume
        yield "Leave the monitor", "Close this view; the run goes on in the background", screen.action_leave

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
