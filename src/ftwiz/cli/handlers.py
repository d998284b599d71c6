"""One handler per verb: argparse's namespace -> the command's typed options -> the command -> its rendering
(`ftwiz.views`, or one JSON object with --json) -> the exit code. Messages for people go to stderr; stdout holds
what scripts read (JSON, a run folder, a merged model's path)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from ftwiz.errors import BadInput, ExitCode


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def presets(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands import presets as command
    from ftwiz.views import print_presets

    print_presets(command.run())
    return ExitCode.OK


def inspect(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.inspect import InspectOptions, run

    result = run(InspectOptions(args.model, args.rank, args.trust_remote_code))
    if args.json:
        print(json.dumps(result))
        return ExitCode.OK
    from ftwiz.views import print_inspection

    print_inspection(result)
    return ExitCode.OK


def plan(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.plan import PlanOptions, run
    from ftwiz.plan.choices import Knobs

    targets: str | list[str] = args.targets or "all_linear"
    if "," in targets:  # --targets q_proj,v_proj: module names
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    knobs = Knobs(
        **{f.name: getattr(args, f.name) for f in fields(Knobs) if f.name in vars(args)} | {"targets": targets}
    )
    options = {f.name: getattr(args, f.name) for f in fields(PlanOptions) if f.name != "knobs"}
    result = run(PlanOptions(**options, knobs=knobs))
    if args.json:
        print(json.dumps(result.data))
        return ExitCode.OK
    from ftwiz.views import print_plan, print_which_gpu

    if result.plan is None:
        print_which_gpu(result.data)
    else:
        print_plan(args.model, result.plan)
    return ExitCode.OK


def data_check(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.data import CheckOptions, check

    options = CheckOptions(args.path, args.subset, args.split, args.format, args.tokenizer, args.seq_len, args.model)
    result = check(options)
    if args.json:
        print(json.dumps(result.report.to_dict()))
    else:
        from ftwiz.views import print_data_report

        print_data_report(args.path, result.report)
    return ExitCode.OK if result.ok else ExitCode.BAD_INPUT


def doctor(args: argparse.Namespace, argv: list[str]) -> int:
    """0 when no check failed, 1 when any did (a bad config exits 2 like everywhere else)."""
    from ftwiz.commands.doctor import DoctorOptions, run

    if args.gpu and not args.config:
        raise BadInput("--gpu: says which card to check a config against", hint="Add --config FILE|PRESET.")
    result = run(DoctorOptions(args.config, args.gpu, args.runs_dir))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        from ftwiz.views import print_checks

        print_checks(result.checks)
    return ExitCode.RUN_FAILED if result.failed else ExitCode.OK


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """`ftwiz train CONFIG` and `ftwiz --preset NAME`: headless or detached through commands.launch.start, else the
    wizard pre-filled (a config file opens at its Review step)."""
    from ftwiz.commands.launch import start
    from ftwiz.config.presets import load_config

    loaded = load_config(args.config if args.command == "train" else args.preset, args.overrides)
    if not args.headless and not args.detach:
        return wizard(args, loaded, review=args.command == "train")
    started = start(loaded.config, argv=["ftwiz", *argv], preset=loaded.preset_name)
    for note in started.notes:
        _say(f"ftwiz: {note}")
    run = started.run
    if args.detach:
        _say(f"Started run {run.id} (pid {started.proc.pid}); it keeps going if this terminal closes.")
        print(Path(run.path))
        return ExitCode.OK
    from ftwiz.headless import follow

    return int(follow(run, started.proc))


def wizard(args: argparse.Namespace, loaded: Any = None, *, review: bool = False) -> int:
    """The Textual wizard: empty, pre-filled from a preset, or (a config file) opened at the review step."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput(
            "the wizard needs a terminal",
            hint="Without one (a pipe, cron, CI), run headless: ftwiz --preset NAME --headless, "
            "or ftwiz train CONFIG.yaml --headless.",
        )
    from ftwiz.plan.draft import Draft
    from ftwiz.tui.failures import fatal_message, quiet_libraries
    from ftwiz.tui.monitor import outcome_message
    from ftwiz.tui.wizard import DEFAULT_CONFIG_PATH, REVIEW, make_wizard

    quiet_libraries()
    draft = Draft.from_config(loaded.config, loaded.preset_name) if loaded is not None else Draft()
    path = str(loaded.source) if review and loaded is not None else DEFAULT_CONFIG_PATH
    app = make_wizard(draft, runs_dir=draft.get("output.runs_dir"), start=REVIEW if review else 0, config_path=path)
    app.run()  # restores the terminal before it returns, even after an error
    run = app.state.launched_run
    if run is not None:
        _say(outcome_message(run))
        print(run.path)
    if fatal := fatal_message(app):
        print(fatal, file=sys.stderr)
        return ExitCode.RUN_FAILED
    return ExitCode.OK


# -- runs -------------------------------------------------------------------------------------------------------


def runs(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.runs import listing

    root, rows = listing(args.runs_dir)
    if args.json:
        print(json.dumps(rows))
        return ExitCode.OK
    from ftwiz.views import print_runs

    print_runs(root, rows)
    return ExitCode.OK


def attach(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.runs import find

    return watch(find(args.run, args.runs_dir, prefer_live=True), None, headless=args.headless)


def watch(run: Any, proc: Any, *, headless: bool) -> int:
    """The Textual monitor on a terminal, rich progress lines otherwise (or when asked). Attached (no proc of
    ours), Ctrl-C only leaves; following a run we started, it stops it, as for any headless run."""
    if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from ftwiz.headless import follow

        return int(follow(run, proc, attached=proc is None))
    from ftwiz.tui.monitor import run_monitor

    return int(run_monitor(run))


def stop(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.runs import find
    from ftwiz.commands.runs import stop as stop_run

    run = find(args.run, args.runs_dir)
    asked = f"Asked run {run.id} to stop: it saves a checkpoint and its adapter, then ends."
    result = stop_run(run, wait=not args.no_wait, asked=lambda: _say(asked))
    if not result.requested:
        _say(f"Run {run.id} is {result.before}: nothing to stop.")
    elif result.after in ("completed", "failed", "stopped", "died"):
        _say(f"Run {run.id} {result.after}. Resume it with: ftwiz resume {run.id}")
    elif result.after is not None:
        _say(f"Run {run.id} is still {result.after}; it will stop at the end of its current step.")
    return ExitCode.OK


def resume(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.runs import find
    from ftwiz.commands.runs import resume as resume_run

    resumed = resume_run(find(args.run, args.runs_dir))
    run = resumed.run
    where = f"from {resumed.checkpoint.name}" if resumed.checkpoint else "from the start (it saved no checkpoint)"
    _say(f"Resuming run {run.id} ({resumed.previous}) {where}; pid {resumed.proc.pid}.")
    if args.detach:
        print(run.path)
        return ExitCode.OK
    return watch(run, resumed.proc, headless=args.headless)


# -- after training ---------------------------------------------------------------------------------------------


def chat(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.after import ChatOptions
    from ftwiz.commands.after import chat as talk
    from ftwiz.commands.runs import find

    options = ChatOptions(args.max_new_tokens, args.temperature, not args.greedy, args.system)
    return talk(find(args.run, args.runs_dir), options, prompt=args.prompt)


def merge(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.after import merge as fold
    from ftwiz.commands.runs import find

    run = find(args.run, args.runs_dir)
    out = fold(run, Path(args.out) if args.out else None)
    _say(f"Merged {run.id} into its base: load it with AutoModelForCausalLM.from_pretrained('{out}')")
    print(out)
    return ExitCode.OK


def push(args: argparse.Namespace, argv: list[str]) -> int:
    from ftwiz.commands.after import push as upload
    from ftwiz.commands.runs import find

    print(upload(find(args.run, args.runs_dir), args.repo, merged=args.merged, private=not args.public))
    return ExitCode.OK
