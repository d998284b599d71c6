"""The live run monitor (`ftwiz attach RUN`): loss chart, stats, progress and the log tail of one run folder.

Like the headless follower it only reads the run folder, so it can attach to any run, from any terminal, any
number of times; leaving it never touches the run. Stopping goes through `stop.request`, which the worker
polls: it finishes the step, saves a checkpoint and the adapter, and ends as `stopped`.

Files are polled on a timer and everything new is read in one go, then the widgets are updated once per tick
(the chart only when a series changed), so a finished run with 10,000 metrics lines opens at once.

The modules, one job each: `screen` polls the run folder and holds the keys, `panels` and `stats` draw what it
read, `dialogs` are the stop confirmation and the samples, `commands` the command palette entries,
`formatting` the short durations and sizes, `app` the `ftwiz attach` app around the screen.
"""

from __future__ import annotations

from ftwiz.tui.monitor.app import MonitorApp, leave_message, outcome_message, run_monitor
from ftwiz.tui.monitor.commands import MonitorCommands
from ftwiz.tui.monitor.dialogs import ConfirmStop, SamplesScreen
from ftwiz.tui.monitor.formatting import display_path, fmt_count, fmt_duration, fmt_gib
from ftwiz.tui.monitor.panels import (
    CHART_POINTS,
    EVAL_STYLE,
    LOG_LINES,
    STATE_LABEL,
    TRAIN_STYLE,
    LogTail,
    LossChart,
    ProgressRow,
    RunHeader,
    RunView,
)
from ftwiz.tui.monitor.screen import POLL_SECONDS, MonitorScreen
from ftwiz.tui.monitor.stats import StatsPanel

__all__ = [
    "CHART_POINTS",
    "EVAL_STYLE",
    "LOG_LINES",
    "POLL_SECONDS",
    "STATE_LABEL",
    "TRAIN_STYLE",
    "ConfirmStop",
    "LogTail",
    "LossChart",
    "MonitorApp",
    "MonitorCommands",
    "MonitorScreen",
    "ProgressRow",
    "RunHeader",
    "RunView",
    "SamplesScreen",
    "StatsPanel",
    "display_path",
    "fmt_count",
    "fmt_duration",
    "fmt_gib",
    "leave_message",
    "outcome_message",
    "run_monitor",
]
