"""`ftwiz`'s arguments: one argparse parser, a subcommand per verb (CONTRACTS.md, Commands)."""

from __future__ import annotations

import argparse
from typing import Any

from ftwiz import __version__
from ftwiz.data.formats import FORMATS

EPILOG = """\
examples:
  ftwiz --preset tiny-demo --headless          train the offline demo on the CPU
  ftwiz --preset phi2-qlora --headless --set data.path=my_chats.jsonl
  ftwiz train my_run.yaml --headless --detach  start a run and return; it survives a dropped SSH session
  ftwiz presets                                list the shipped presets
  ftwiz runs                                   list runs; then: ftwiz attach / stop / resume RUN
"""


def _run_options(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    # Options shared by `ftwiz --preset` and `ftwiz train`; SUPPRESS keeps a subcommand from resetting them.
    default = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--headless",
        action="store_true",
        default=default or False,
        help="train without the TUI: progress on the terminal, Ctrl-C stops gracefully",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        default=default or False,
        help="start the run and return at once, printing its folder",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        default=default or [],
        help="override a config key, e.g. --set train.learning_rate=1e-4 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftwiz",
        description="Fine-tuning wizard: plan a LoRA/QLoRA/full fine-tune that fits, train it, watch it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ftwiz {__version__}")
    parser.add_argument("--preset", metavar="NAME|FILE", help="start from a preset (see `ftwiz presets`) or YAML file")
    _run_options(parser, sub=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_train_presets(commands)
    _add_inspect(commands)
    _add_plan(commands)
    _add_runs(commands)
    _add_after(commands)
    _add_doctor_data(commands)
    return parser


def _add_train_presets(commands: Any) -> None:
    """`train CONFIG` and `presets`."""
    train = commands.add_parser(
        "train",
        help="train from a config file",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config", metavar="CONFIG.yaml", help="a RunConfig in YAML")
    _run_options(train, sub=True)

    commands.add_parser("presets", help="list presets with one-line descriptions")


def _add_inspect(commands: Any) -> None:
    """`inspect --model M`."""
    inspect = commands.add_parser("inspect", help="a model's linear layers and LoRA target sets, no weights loaded")
    inspect.add_argument("--model", required=True, metavar="M", help="hub id, local folder or config.json path")
    inspect.add_argument(
        "--rank",
        type=_positive_int,
        default=16,
        metavar="R",
        help="LoRA rank for the trainable-parameter counts (default 16)",
    )
    inspect.add_argument("--json", action="store_true", help="one JSON object on stdout")
    inspect.add_argument(
        "--trust-remote-code", action="store_true", help="allow configs that need the repository's own Python code"
    )


def _add_plan(commands: Any) -> None:
    """`plan --model M ...`: knobs given are fixed, the others recommended."""
    plan = commands.add_parser(
        "plan",
        help="will it fit, how fast, what it costs: memory and time before you spend",
        description="Knobs you give are fixed; the others are recommended. Without --gpu: the GPUs in this machine.",
    )
    plan.add_argument("--model", required=True, metavar="M", help="hub id, local folder or config.json path")
    plan.add_argument("--gpu", metavar="G", help="T4, L4, A10G, RTX-4090, A100-80GB, H100-80GB, 24GB, 4xA100-80GB ...")
    plan.add_argument("--adapter", choices=["full", "lora", "qlora", "ia3", "prompt_tuning", "prefix_tuning", "freeze"])
    plan.add_argument("--rank", type=_positive_int, metavar="R")
    plan.add_argument("--batch-size", type=_positive_int, metavar="B", help="micro-batch per GPU")
    plan.add_argument("--seq-len", type=_positive_int, metavar="S")
    plan.add_argument("--grad-accum", type=_positive_int, metavar="N")
    plan.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    plan.add_argument("--optimizer", metavar="O", help="adamw_torch, paged_adamw_8bit, adamw_8bit, sgd, ...")
    plan.add_argument("--targets", metavar="SET|NAME,NAME", help="attention_qv, attention, all_linear, or names")
    size = plan.add_mutually_exclusive_group()
    size.add_argument("--data", metavar="PATH", help="training data (its size gives the token count)")
    size.add_argument("--tokens", type=_positive_int, metavar="N", help="tokens per epoch")
    plan.add_argument("--epochs", type=float, default=1.0, metavar="E")
    plan.add_argument("--which-gpu", action="store_true", help="rank the catalog's GPUs (and counts) that fit")
    plan.add_argument("--nodes", type=_positive_int, default=1, metavar="N", help="machines, each with --gpu's GPUs")
    plan.add_argument(
        "--strategy",
        choices=["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"],
        help="several GPUs: fix the strategy (default: chosen by fit, then speed)",
    )
    plan.add_argument("--cpu-offload", action=argparse.BooleanOptionalAction, default=None)
    plan.add_argument(
        "--loss",
        choices=["fused", "full"],
        help="how the loss is computed: fused (TRL's fused LM head, the installed TRL's default) or full (the "
        "whole logits, as plain Trainer and 2024-era stacks did)",
    )
    plan.add_argument(
        "--activation-offloading",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TRL's activation offloading (default: tried only when nothing fits)",
    )
    plan.add_argument(
        "--liger",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Liger's RMSNorm/RoPE/SwiGLU kernels (pip install liger-kernel; default: tried only when nothing fits)",
    )
    plan.add_argument("--config", default="CONFIG.yaml", metavar="PATH", help="config file named in the commands")
    plan.add_argument("--main-process-ip", metavar="HOST", help="several machines: machine 0's address")
    plan.add_argument("--json", action="store_true", help="one JSON object on stdout")
    plan.add_argument("--trust-remote-code", action="store_true")


def _add_runs(commands: Any) -> None:
    """`runs`, `attach`, `stop`, `resume`: runs that exist."""
    runs = commands.add_parser("runs", help="list runs: state, step, loss, duration")
    _runs_dir_option(runs)
    runs.add_argument("--json", action="store_true", help="one JSON list on stdout")

    attach = commands.add_parser("attach", help="watch a run live (the newest live one by default)")
    _run_argument(attach, optional=True)
    attach.add_argument("--headless", action="store_true", help="plain progress lines instead of the TUI")
    _runs_dir_option(attach)

    stop = commands.add_parser("stop", help="stop a run gracefully: checkpoint, adapter, state stopped")
    _run_argument(stop)
    stop.add_argument("--no-wait", action="store_true", help="return once the request is made")
    _runs_dir_option(stop)

    resume = commands.add_parser("resume", help="continue a stopped, failed or died run from its last checkpoint")
    _run_argument(resume)
    resume.add_argument("--headless", action="store_true", help="follow it on the terminal without the TUI")
    resume.add_argument("--detach", action="store_true", help="start it and return at once")
    _runs_dir_option(resume)


def _add_after(commands: Any) -> None:
    """`chat`, `merge`, `push`: what a run trained."""
    chat = commands.add_parser("chat", help="talk to a run's trained model, tokens streamed")
    _run_argument(chat)
    chat.add_argument("--prompt", metavar="TEXT", help="answer one prompt and exit (else: interactive)")
    chat.add_argument("--system", metavar="TEXT", help="a system prompt")
    chat.add_argument("--max-new-tokens", type=_positive_int, default=256, metavar="N")
    chat.add_argument("--temperature", type=float, default=0.7, metavar="T")
    chat.add_argument("--greedy", action="store_true", help="no sampling: the most likely token each time")
    _runs_dir_option(chat)

    merge = commands.add_parser("merge", help="fold a run's adapter into its base; save a plain transformers model")
    _run_argument(merge)
    merge.add_argument("--out", metavar="DIR", help="where to save (default: RUN/merged)")
    _runs_dir_option(merge)

    push = commands.add_parser("push", help="upload a run's adapter (or merged model) with a model card")
    _run_argument(push)
    push.add_argument("--repo", required=True, metavar="ID", help="the hub repository, e.g. you/my-adapter")
    push.add_argument("--merged", action="store_true", help="upload RUN/merged (made by ftwiz merge)")
    push.add_argument("--public", action="store_true", help="a public repository (default: private)")
    _runs_dir_option(push)


def _add_doctor_data(commands: Any) -> None:
    """`doctor` and `data check`."""
    doctor = commands.add_parser("doctor", help="is this machine ready to train? each problem with its fix")
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")
    doctor.add_argument(
        "--config", metavar="FILE|PRESET", help="also check this run's GPU memory, disk and RAM against the machine"
    )
    doctor.add_argument(
        "--gpu", metavar="G", help="with --config: check it against this card (T4, A100-80GB, 24GB ...) instead"
    )
    _runs_dir_option(doctor)

    data = commands.add_parser("data", help="check a dataset before training on it")
    data_commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    data_check = data_commands.add_parser("check", help="format, every row's problems (file:line), lengths")
    data_check.add_argument(
        "path", metavar="PATH", help="a .jsonl/.json/.csv/.tsv/.parquet/.txt file, folder or glob, or a hub dataset"
    )
    data_check.add_argument("--subset", metavar="NAME", help="a hub dataset's subset (config name)")
    data_check.add_argument("--split", default="train", metavar="NAME", help="which split to check (default train)")
    data_check.add_argument(
        "--format",
        choices=list(FORMATS),
        help="skip detection",
    )
    data_check.add_argument("--tokenizer", metavar="M", help="the model whose tokenizer and template measure tokens")
    data_check.add_argument("--seq-len", type=_positive_int, metavar="S", help="count rows longer than S tokens")
    data_check.add_argument(
        "--model", metavar="M", help="the model to train: cap the recommended max_length at its context (config only)"
    )
    data_check.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _run_argument(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    parser.add_argument(
        "run", nargs="?" if optional else None, metavar="RUN", help="a run id (or a unique part of it) or its folder"
    )


def _runs_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir", metavar="DIR", help="where runs live (default: $FTWIZ_RUNS_DIR, else ./runs, as output.runs_dir)"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
