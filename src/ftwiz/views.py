"""Rich renderings of core results for the terminal (the TUI has its own widgets over the same data)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

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
