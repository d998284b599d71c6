"""Headless runs: follow a run folder with rich (progress, eval lines, samples) until the worker ends.

Only reads the run folder (DESIGN.md): what is shown here is what any monitor would show. Ctrl-C asks the
worker to stop gracefully (checkpoint + adapter, state `stopped`); a second Ctrl-C kills it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ftwiz.errors import ExitCode
from ftwiz.files import read_json
from ftwiz.runs.store import (
    FINAL_STATES,
    MetricsReader,
    RunDir,
    effective_state,
    read_status,
    request_stop,
)

POLL_SECONDS = 0.5
EXIT_FOR_STATE = {"completed": ExitCode.OK, "stopped": ExitCode.STOPPED, "failed": ExitCode.RUN_FAILED}


class _Interrupts:
    """First Ctrl-C: graceful stop through the run folder. Second: kill the worker's process group."""

    def __init__(self, run: RunDir, proc: subprocess.Popen[bytes] | None, console: Console) -> None:
        self.run, self.proc, self.console = run, proc, console
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1:
            request_stop(self.run, reason="Ctrl-C")
            self.console.print(
                "[yellow]Stopping gracefully: finishing the step, saving a checkpoint and the adapter. "
                "Press Ctrl-C again to kill the run.[/]"
            )
            return
        pid = self.proc.pid if self.proc else read_status(self.run).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the worker leads its own session and process group
        self.console.print("[red]Killed the worker.[/] Resume later from its last checkpoint.")


def _format_train(rec: dict[str, Any], max_steps: int | None) -> str:
    parts = [f"step {rec['step']}" + (f"/{max_steps}" if max_steps else ""), f"loss {rec['loss']:.4f}"]
    if rec.get("learning_rate") is not None:
        parts.append(f"lr {rec['learning_rate']:.2e}")
    if rec.get("grad_norm") is not None:
        parts.append(f"grad norm {rec['grad_norm']:.3f}")
    if rec.get("tokens_per_second"):
        parts.append(f"{rec['tokens_per_second']:,.0f} tok/s")
    return "  ".join(parts)


def _format_eval(rec: dict[str, Any]) -> str:
    ppl = f" (perplexity {rec['perplexity']:.2f})" if rec.get("perplexity") else ""
    return f"[cyan]eval[/] step {rec['step']}: eval loss {rec['eval_loss']:.4f}{ppl}"


class _Leave(Exception):
    """Ctrl-C while attached: stop watching, the run goes on."""


def _leave(signum: int, frame: Any) -> None:
    raise _Leave


def follow(
    run: RunDir, proc: subprocess.Popen[bytes] | None, console: Console | None = None, *, attached: bool = False
) -> ExitCode:
    """Show the run until the worker ends; the last line printed is the run folder. Returns the exit code.

    `attached` (`ftwiz attach --headless`): Ctrl-C leaves and the run goes on; otherwise it stops the run."""
    console = console or Console(soft_wrap=True)
    interrupts = _Interrupts(run, proc, console)
    previous = signal.signal(signal.SIGINT, _leave if attached else interrupts)
    reader = MetricsReader(run.metrics)
    live = console.is_terminal
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TextColumn("{task.fields[mem]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not live,
    )
    task = progress.add_task("loading", total=None, loss="–", tps="–", mem="")
    verb = "Attached to" if attached else "Run"
    console.print(f"{verb} [bold]{run.id}[/] in {run.path}", highlight=False)
    shown: list[str] = []
    try:
        with progress:
            while True:
                status = read_status(run)
                worker_done = proc is not None and proc.poll() is not None
                _show_new(reader, progress, task, status, live)
                _show_decisions(status, shown, progress.console)
                state = effective_state(status)
                max_steps = status.get("max_steps")
                desc = state if state != "running" else "training"
                progress.update(task, description=desc, total=max_steps or None, completed=status.get("step", 0))
                if worker_done or (proc is None and (state in FINAL_STATES or state == "died")):
                    _show_new(reader, progress, task, status, live)
                    break
                time.sleep(POLL_SECONDS)
    except _Leave:
        console.print(f"Left run {run.id}; it goes on. Stop it with: ftwiz stop {run.id}", highlight=False)
        console.print(str(run.path), highlight=False, soft_wrap=True)
        return ExitCode.OK
    finally:
        signal.signal(signal.SIGINT, previous)
    return _finish(run, proc, console, killed=interrupts.count > 1, shown=shown)


def _show_decisions(status: dict[str, Any], shown: list[str], console: Console) -> None:
    """Automatic decisions (skipped rows, OOM retries, a resume) as they happen, each once."""
    for decision in status.get("decisions") or []:
        if decision not in shown:
            shown.append(decision)
            console.print(f"[dim]note: {escape(decision)}[/]", highlight=False)


def _show_new(reader: MetricsReader, progress: Progress, task: Any, status: dict[str, Any], live: bool) -> None:
    for rec in reader.read_new():
        if rec.get("kind") == "train":
            tps = rec.get("tokens_per_second")
            progress.update(task, loss=f"{rec['loss']:.4f}", tps=f"{tps:,.0f}" if tps else "–")
            if not live:
                progress.console.print(_format_train(rec, status.get("max_steps")), highlight=False)
        elif rec.get("kind") == "eval":
            progress.console.print(_format_eval(rec), highlight=False)
        elif rec.get("kind") == "system" and rec.get("gpu"):
            used = "/".join(f"{g['mem_used_bytes'] / 2**30:.1f}" for g in rec["gpu"])
            progress.update(task, mem=f"GPU {used} GiB")


def _finish(
    run: RunDir, proc: subprocess.Popen[bytes] | None, console: Console, *, killed: bool, shown: list[str]
) -> ExitCode:
    status = read_status(run)
    state = status.get("state") if proc is not None and proc.returncode is not None else effective_state(status)
    if state not in FINAL_STATES:
        state = "died"
    final = status.get("final") or {}
    if state in ("completed", "stopped"):
        _print_samples(run, console)
        _show_decisions(status, shown, console)
        before, after = final.get("eval_loss_before"), final.get("eval_loss")
        if before is not None and after is not None:
            change = 100 * (after - before) / before
            console.print(f"[bold]eval loss {before:.4f} -> {after:.4f} ({change:+.1f}%)[/]")
        color = "green" if state == "completed" else "yellow"
        console.print(
            f"[{color}]Run {state}[/] after {final.get('steps', status.get('step', 0))} steps. Adapter: {run.adapter}"
        )
    else:
        error = (status.get("error") or {}).get("summary") or "the worker ended without a final state"
        console.print(f"[red]Run {state}:[/] {error}")
        tail = _log_tail(run.log)
        if tail:
            console.print("[dim]last lines of train.log:[/]")
            console.print("\n".join(tail), markup=False, highlight=False)
    console.print(str(run.path), highlight=False, soft_wrap=True)
    if killed:
        return ExitCode.STOPPED
    if state == "failed" and proc is not None and proc.returncode == ExitCode.BAD_INPUT:
        return ExitCode.BAD_INPUT
    return EXIT_FOR_STATE.get(state, ExitCode.RUN_FAILED)


def _one_line(text: str | None, width: int = 100) -> str:
    flat = " / ".join(line.strip() for line in (text or "").splitlines() if line.strip()) or "(empty)"
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_samples(run: RunDir, console: Console) -> None:
    records = read_json(run.samples_json)
    if not records:
        return
    console.print(f"[bold]Held-out prompts, before and after training[/] (full text: {run.samples})")
    width = max(40, console.width - 14)  # one terminal line per field
    for i, rec in enumerate(records, 1):
        console.print(f"[bold]{i}.[/] {escape(_one_line(rec['prompt'], width + 8))}", highlight=False)
        console.print(f"   expected: {_one_line(rec['expected'], width)}", markup=False, highlight=False)
        console.print(f"   before:   {_one_line(rec['before'], width)}", markup=False, highlight=False)
        if rec.get("after") is not None:
            console.print(f"   after:    {_one_line(rec['after'], width)}", markup=False, highlight=False)


def _log_tail(path: Path, lines: int = 15) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return list(deque((line.rstrip("\n") for line in fh), maxlen=lines))
    except FileNotFoundError:
        return []
