"""Rich renderings of core results for the terminal (the TUI has its own widgets over the same data)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ftwiz.hardware.readiness import Check, summary

KIND_LABEL = {
    "attention_q": "attention q",
    "attention_k": "attention k",
    "attention_v": "attention v",
    "attention_qkv": "attention qkv (fused)",
    "attention_o": "attention out",
    "mlp_gate": "MLP gate",
    "mlp_up": "MLP up",
    "mlp_gate_up": "MLP gate+up (fused)",
    "mlp_down": "MLP down",
    "router": "MoE router",
    "lm_head": "LM head",
    "other": "other",
}


def human(n: int | float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def print_inspection(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    total = result["params_total"]
    console.print(
        f"[bold]{result['model']}[/] — {result['model_type']} ({result['architecture']}), "
        f"{human(total)} parameters, {result['layers']} layers, hidden {result['hidden_size']}, "
        f"vocab {result['vocab_size']:,}  [dim](config from: {result['source']})[/]",
        highlight=False,
    )
    for note in result.get("notes") or []:
        console.print(f"[dim]note: {note}[/]")
    table = Table("module", "kind", "count", "in", "out", "params", title="Linear layers", title_justify="left")
    for g in result["linear_groups"]:
        table.add_row(
            g["name"],
            KIND_LABEL.get(g["kind"], g["kind"]),
            str(g["count"]),
            str(g["in_features"]),
            str(g["out_features"]),
            human(g["params"]),
        )
    console.print(table)
    if result["fused_parameters"]:
        fused = Table(
            "parameter", "shape", "count", title="Fused expert parameters (not Linear modules)", title_justify="left"
        )
        for f in result["fused_parameters"]:
            fused.add_row(f["name"], " x ".join(map(str, f["shape"])), str(f["count"]))
        console.print(fused)
        console.print(
            "[dim]PEFT can adapt these through LoraConfig(target_parameters=[...]): "
            f"{', '.join(result['target_parameters'])}[/]"
        )
    if result.get("excluded_modules"):
        console.print(f"[dim]left out (not the language model): {', '.join(result['excluded_modules'])}[/]")
    rank = result["rank"]
    sets = Table(
        "target set", "modules", f"trainable at r={rank}", "% of model", title="LoRA targets", title_justify="left"
    )
    for name, modules in result["targets"].items():
        count = result["trainable_params"][name]
        sets.add_row(name, ", ".join(modules) or "—", human(count), f"{100 * count / total:.2f}%")
    console.print(sets)
    console.print(
        f"[dim]Each adapted module adds r x (in + out) = {rank} x (in + out) parameters; "
        "all_linear leaves out lm_head and MoE routers.[/]"
    )


TERM_STYLE = {
    "weights": "blue",
    "trainable": "cyan",
    "gradients": "yellow",
    "optimizer": "magenta",
    "optimizer_step": "bright_magenta",
    "activations": "green",
    "logits": "bright_white",
    "overhead": "bright_black",
}
"""One colour per memory term, none of them red: red (and the ▒ pattern) means past the usable memory only."""
OVER_BUDGET = "▒"


def legend_terms(breakdown: dict[str, int]) -> list[tuple[str, int]]:
    """The terms a legend names: all of them, but the optimizer step's temporaries only where they set the peak
    (most plans have none: the backward pass's activations outgrow them)."""
    return [(term, size) for term, size in breakdown.items() if size or term != "optimizer_step"]


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def memory_bar(breakdown: dict[str, int], budget: int, width: int = 50) -> Text:
    """The breakdown as one bar scaled to the usable memory; a red tail past it when it does not fit."""
    total = sum(breakdown.values())
    scale = width / max(budget, total)
    bar = Text()
    for term, size in breakdown.items():
        cells = round(size * scale)
        bar.append("█" * cells, style=TERM_STYLE[term])
    used = bar.cell_len
    limit = round(budget * scale)
    if used < limit:
        bar.append("░" * (limit - used), style="dim")
    elif used > limit:  # what lies past the usable memory: another pattern as well as red, for any palette
        bar = bar[:limit]
        bar.append(OVER_BUDGET * (used - limit), style="bold red")
    return bar


def print_plan(model: str, plan: Any, console: Console | None = None) -> None:
    console = console or Console()
    data = plan.to_dict()
    cfg, breakdown = data["config"], data["breakdown"]
    gpu = data["gpu"]
    label = gpu["name"] if gpu["count"] == 1 else f"{gpu['count']} x {gpu['name']}"
    if data.get("nodes", 1) > 1:
        label = f"{data['nodes']} machines x {label}"
    console.print(f"[bold]{model}[/] on [bold]{label}[/] ({_gib(gpu['memory_bytes'])} per GPU)", highlight=False)
    verdict = "[green]fits[/]" if data["fits"] else "[red]does not fit[/]"
    console.print(f"peak {_gib(data['peak_bytes'])} per GPU of {_gib(data['budget_bytes'])} usable: {verdict}")
    console.print(memory_bar(breakdown, data["budget_bytes"]))
    legend = Text()
    for term, size in legend_terms(breakdown):
        legend.append("█ ", style=TERM_STYLE[term]).append(f"{term} {_gib(size)}  ")
    console.print(legend)
    knobs = (
        f"{cfg['adapter']}" + (f" r={cfg['rank']}" if cfg["rank"] else "") + f", micro-batch {cfg['batch_size']}"
        f" x accumulation {cfg['grad_accum']}, {cfg['seq_len']:,} tokens, checkpointing "
        f"{'on' if cfg['gradient_checkpointing'] else 'off'}, {cfg['optimizer']}"
    )
    if gpu["count"] * data.get("nodes", 1) > 1:
        knobs += f"; {cfg['strategy']}" + (" with CPU offload" if cfg.get("cpu_offload") else "")
    console.print(f"[bold]config:[/] {knobs}", highlight=False)
    speed = f"{data['tokens_per_second']:,.0f} tokens/s, {data['step_seconds']:.2f} s per optimizer step"
    if not data["tokens_per_second"]:
        speed = "unknown for a bare capacity: name the card (--gpu RTX-4090, 2xA10G ...) to estimate it"
    if data.get("total_seconds") is not None:
        speed += f"; {data['tokens']:,} tokens x {plan.epochs:g} epoch(s): {_duration(data['total_seconds'])}"
        if data.get("cost") is not None:
            speed += f", about ${data['cost']:,.2f}"
    console.print(f"[bold]speed:[/] {speed} (estimate)", highlight=False)
    console.print("[bold]why:[/]")
    for reason in data["reasons"]:
        console.print(f"  • {reason}", highlight=False)
    if data["alternatives"]:
        table = Table("alternative", "peak", "tokens/s", title="Also fits", title_justify="left", box=None)
        for alt in data["alternatives"]:
            c = alt["config"]
            several = gpu["count"] * data.get("nodes", 1) > 1
            table.add_row(
                f"{c['adapter']}, micro-batch {c['batch_size']}, checkpointing "
                f"{'on' if c['gradient_checkpointing'] else 'off'}, {c['optimizer']}"
                + (f", {c['strategy']}{' + offload' if c.get('cpu_offload') else ''}" if several else ""),
                _gib(alt["peak_bytes"]),
                f"{alt['tokens_per_second']:,.0f}",
            )
        console.print(table)
    commands = data.get("commands") or []
    if commands:
        where = "on each machine (the same config file on every one)" if len(commands) > 1 else "to train it"
        console.print(f"[bold]{where}:[/]")
        for command in commands:
            console.print(f"  {command}", highlight=False, soft_wrap=True)


def print_which_gpu(data: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    by_job = data.get("tokens") is not None
    table = Table(
        "GPU",
        "fits",
        "peak/GPU",
        "config",
        "time" if by_job else "",
        "cost" if by_job else "$ / M tokens",
        title=f"Which GPU for {data['model']}?",
        title_justify="left",
    )
    for o in data["options"]:
        c = o["config"]
        config = (
            f"{c['adapter']}, b{c['batch_size']}, ckpt {'on' if c['gradient_checkpointing'] else 'off'}" if c else ""
        )
        if c and c.get("strategy", "single") != "single":
            config += f", {c['strategy'].replace('deepspeed-', '')}" + ("+offload" if c.get("cpu_offload") else "")
        if by_job:
            time_cell = _duration(o["total_seconds"]) if o["total_seconds"] is not None else ""
            cost = f"${o['cost']:,.2f}" if o["cost"] is not None else ""
        else:
            time_cell = ""
            cost = f"${o['cost_per_million_tokens']:.3f}" if o["cost_per_million_tokens"] is not None else ""
        table.add_row(
            o["gpu"], "[green]yes[/]" if o["fits"] else "[red]no[/]", _gib(o["peak_bytes"]), config, time_cell, cost
        )
    console.print(table)
    console.print("[dim]Prices are approximate on-demand ranges (midpoint shown); check your provider.[/]")


def length_advice(report: Any) -> str:
    """`1,024 (covers p99, a multiple of 64)`, or why it is less: capped at the model's context."""
    if report.max_length_capped_at:
        return (
            f"{report.recommended_max_length:,} (capped at the model's context; p99 is "
            f"{report.token_stats['p99']:,} tokens: longer rows are truncated, or chunked for cpt)"
        )
    return f"{report.recommended_max_length:,} (covers p99, a multiple of 64)"


def print_data_report(path: str, report: Any, console: Console | None = None) -> None:
    from ftwiz.data.check import describe

    console = console or Console()
    console.print(
        f"[bold]{path}[/]: format [bold]{report.format or 'unknown'}[/], {report.rows:,} rows, "
        f"{report.valid_rows:,} valid, columns {', '.join(report.columns) or '—'}",
        highlight=False,
    )
    _print_data_sources(report, console)
    if report.error_count:
        shown = len(report.errors)
        console.print(
            f"[red]{report.error_count:,} problem(s)[/]"
            + (f", the first {shown}:" if shown < report.error_count else ":")
        )
        for error in report.errors:
            console.print(f"  {describe(error)}", highlight=False, markup=False)
        console.print("Fix these rows, or set data.on_error: skip to train without them (they are counted).")
    stats = report.token_stats
    if stats:
        approx = " (approximate: characters / 4, no tokenizer)" if stats.get("approximate") else ""
        console.print(
            f"tokens per row{approx}: p50 {stats['p50']:,}, p95 {stats['p95']:,}, p99 {stats['p99']:,}, "
            f"max {stats['max']:,}; {stats['total']:,} in all",
            highlight=False,
        )
        console.print(f"recommended max_length: {length_advice(report)}", highlight=False)
    if report.labels:
        good, bad = report.labels["desirable"], report.labels["undesirable"]
        console.print(
            f"labels: {good:,} desirable, {bad:,} undesirable (KTO balances them: see the README's Methods)",
            highlight=False,
        )
    if report.loss_token_share is not None:
        console.print(f"tokens that carry loss: {report.loss_token_share:.1%}", highlight=False)
        if report.loss_token_share == 0:
            console.print("[red]no token carries loss: the chat template has no {% generation %} markers[/]")
    if report.rows_over_seq_len is not None:
        console.print(f"rows longer than --seq-len: {report.rows_over_seq_len:,} (they would be truncated)")


def _print_data_sources(report: Any, console: Console) -> None:
    """How the files were read: each file's format, the files skipped as not data, the rule that cut text."""
    if report.formats:
        listed = ", ".join(f"{file} {fmt}" for file, fmt in report.formats.items())
        console.print(f"formats: {listed}", highlight=False, markup=False)
    for skipped in report.skipped_files:
        console.print(f"skipped, not data: {skipped}", style="dim", highlight=False, markup=False)
    if report.text_rule:
        console.print(f"text files: {report.text_rule}", highlight=False, markup=False)


STATE_STYLE = {  # a run's state, the same colour in `ftwiz runs` and the monitor
    "queued": "dim",
    "loading": "cyan",
    "running": "bold cyan",
    "completed": "bold green",
    "stopped": "bold yellow",
    "failed": "bold red",
    "died": "bold red",
}


def print_runs(root: Any, rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """`ftwiz runs`: one line a run, newest last; failures say why."""
    console = console or Console()
    if not rows:
        console.print(f"No runs in {root}. Start one: ftwiz --preset tiny-demo --headless")
        return
    table = Table("run", "state", "step", "loss", "time", box=None, pad_edge=False)
    for row in rows:
        steps = f"{row['step']}/{row['max_steps']}" if row.get("max_steps") else str(row["step"])
        loss = f"{row['loss']:.4f}" if row.get("loss") is not None else "–"
        duration = _duration(row["duration_seconds"]) if row.get("duration_seconds") is not None else "–"
        state = Text(row["state"], style=STATE_STYLE.get(row["state"], ""))
        table.add_row(row["id"], state, steps, loss, duration)
    console.print(table)
    # Why each failed, below the table and whole (wrapped at words): a narrow column would cut it mid-word.
    for row in rows:
        if row.get("error"):
            reason = " / ".join(line.strip() for line in str(row["error"]).splitlines() if line.strip())
            console.print(Text.assemble((f"{row['id']} {row['state']}: ", "bold"), (reason, "red")))
    console.print(f"[dim]{root}: ftwiz attach RUN · ftwiz stop RUN · ftwiz resume RUN[/]", highlight=False)


CHECK_MARKS: dict[str, tuple[str, str]] = {
    "ok": ("✓", "green"),
    "warn": ("!", "yellow"),
    "fail": ("✗", "red"),
    "info": ("·", "dim"),
}


def print_checks(checks: list[Check], console: Console | None = None) -> None:
    """`ftwiz doctor`: one line per check, the fix indented below it (not hard-wrapped, so it pastes whole), then
    a summary."""
    console = console or Console()
    width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        mark, style = CHECK_MARKS[check.status]
        row = Table.grid(padding=(0, 1))  # a grid per check: long details wrap under the detail, not the mark
        row.add_column(width=1)
        row.add_column(width=width + 1)
        row.add_column()
        row.add_row(Text(mark, style), Text(check.name, "bold"), Text(check.detail))
        console.print(row)
        if check.fix:
            console.print(Text(f"{' ' * (width + 4)}fix: {check.fix}", style="cyan"), soft_wrap=True)
    fails = any(c.status == "fail" for c in checks)
    warns = any(c.status == "warn" for c in checks)
    console.print(Text(summary(checks), style="bold red" if fails else "bold yellow" if warns else "bold green"))


def print_presets(presets: list[Any], console: Console | None = None) -> None:
    """`ftwiz presets`: one line each, name and description."""
    table = Table("preset", "description", box=None, pad_edge=False)
    for info in presets:
        table.add_row(f"[bold]{info.name}[/]", info.description)
    (console or Console()).print(table)
