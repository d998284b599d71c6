"""`ftwiz runs`, `attach`, `stop`, `resume`: work with runs that exist, whoever started them and from where.

Everything goes through the run folder (status.json, metrics.jsonl, stop.request), so these work from a new SSH
session, another terminal, or another user with read access.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ftwiz.errors import BadInput, ExitCode
from ftwiz.runs.registry import find_run, latest_checkpoint, list_runs, runs_dir, summary
from ftwiz.runs.store import (
    ACTIVE_STATES,
    FINAL_STATES,
    RunDir,
    effective_state,
    read_status,
    request_stop,
    write_json_atomic,
)

STOP_WAIT_SECONDS = 900.0  # a checkpoint of a large full fine-tune can take minutes to write


def cmd_runs(args: argparse.Namespace) -> int:
    root = runs_dir(args.runs_dir)
    rows = [summary(run) for run in list_runs(root)]
    if args.json:
        print(json.dumps(rows))
        return ExitCode.OK
    from ftwiz.views import print_runs

    print_runs(root, rows)
    return ExitCode.OK


def cmd_attach(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args.runs_dir), prefer_live=True)
    return _watch(run, proc=None, headless=args.headless)


def _watch(run: RunDir, proc: subprocess.Popen[bytes] | None, *, headless: bool) -> int:
    """The Textual monitor on a terminal, rich progress lines otherwise (or when asked). Attached (no proc of
    ours), Ctrl-C only leaves; following a run we started, it stops it, as for any headless run."""
    if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from ftwiz.headless import follow

        return int(follow(run, proc, attached=proc is None))
    from ftwiz.tui.monitor import run_monitor

    return int(run_monitor(run))


def cmd_stop(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args.runs_dir))
    state = effective_state(read_status(run))
    if state not in ACTIVE_STATES:
        print(f"Run {run.id} is {state}: nothing to stop.", file=sys.stderr)
        return ExitCode.OK
    request_stop(run, reason="ftwiz stop")
    print(f"Asked run {run.id} to stop: it saves a checkpoint and its adapter, then ends.", file=sys.stderr)
    if args.no_wait:
        return ExitCode.OK
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        state = effective_state(read_status(run))
        if state in FINAL_STATES or state == "died":
            print(f"Run {run.id} {state}. Resume it with: ftwiz resume {run.id}", file=sys.stderr)
            return ExitCode.OK
        time.sleep(0.5)
    print(f"Run {run.id} is still {state}; it will stop at the end of its current step.", file=sys.stderr)
    return ExitCode.OK


def cmd_resume(args: argparse.Namespace) -> int:
    from ftwiz.train.launch import spawn_worker

    run = find_run(args.run, runs_dir(args.runs_dir))
    status = read_status(run)
    state = effective_state(status)
    if state in ACTIVE_STATES:
        raise BadInput(f"run {run.id} is still {state}", hint=f"Watch it: ftwiz attach {run.id}")
    if state == "completed":
        raise BadInput(f"run {run.id} completed: nothing to resume", hint="Start a new run with a larger max_steps.")
    checkpoint = latest_checkpoint(run)
    where = f"from {checkpoint.name}" if checkpoint else "from the start (it saved no checkpoint)"
    run.stop_request.unlink(missing_ok=True)  # the request that stopped it is spent
    # queued, with a fresh heartbeat, so no monitor calls it `died` before the worker takes over
    write_json_atomic(run.status, {**status, "state": "queued", "pid": None, "heartbeat": time.time()})
    proc = spawn_worker(run)
    print(f"Resuming run {run.id} ({state}) {where}; pid {proc.pid}.", file=sys.stderr)
    if args.detach:
        print(run.path)
        return ExitCode.OK
    return _watch(run, proc, headless=args.headless)


def cmd_chat(args: argparse.Namespace) -> int:
    from ftwiz.after.chat import ChatOptions, chat

    run = find_run(args.run, runs_dir(args.runs_dir))
    options = ChatOptions(args.max_new_tokens, args.temperature, not args.greedy, args.system)
    return chat(run, options, prompt=args.prompt)


def cmd_merge(args: argparse.Namespace) -> int:
    from ftwiz.after.merge import merge

    run = find_run(args.run, runs_dir(args.runs_dir))
    out = merge(run, Path(args.out) if args.out else None)
    print(f"Merged {run.id} into its base: load it with AutoModelForCausalLM.from_pretrained('{out}')", file=sys.stderr)
    print(out)
    return ExitCode.OK


def cmd_push(args: argparse.Namespace) -> int:
    from ftwiz.after.push import push

    run = find_run(args.run, runs_dir(args.runs_dir))
    url = push(run, args.repo, merged=args.merged, private=not args.public)
    print(url)
    return ExitCode.OK
