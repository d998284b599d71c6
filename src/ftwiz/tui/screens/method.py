"""Step 4: the method and its knobs, with a live memory bar from the estimator (red when it does not fit) and a
Recommend action that fills in the planner's choice with its reasons."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ftwiz.data.formats import methods_for
from ftwiz.errors import FtwizError
from ftwiz.plan.draft import about, gib
from ftwiz.tui.screens.base import StepScreen
from ftwiz.views import TERM_STYLE, memory_bar

# field id -> (draft key, type, label)
FIELDS: dict[str, tuple[str, type, str]] = {
    "r": ("adapter.r", int, "LoRA rank r"),
    "lora_alpha": ("adapter.lora_alpha", float, "lora_alpha"),
    "lora_dropout": ("adapter.lora_dropout", float, "lora_dropout"),
    "batch": ("train.per_device_train_batch_size", int, "micro-batch"),
    "accum": ("train.gradient_accumulation_steps", int, "accumulation"),
    "max_length": ("data.max_length", int, "sequence length"),
    "lr": ("train.learning_rate", float, "learning rate"),
    "epochs": ("train.num_train_epochs", float, "epochs"),
    # Shown only for the adapter types that use them (ADAPTER_FIELDS); an empty LoRA+ ratio is plain LoRA.
    "loraplus": ("adapter.loraplus_lr_ratio", float, "LoRA+ ratio"),
    "virtual_tokens": ("adapter.num_virtual_tokens", int, "virtual tokens"),
    "trainable_layers": ("adapter.trainable_layers", int, "trained layers"),
}
ADAPTER_FIELDS = {  # field id -> the adapter types it belongs to
    "init": ("lora", "qlora"),
    "loraplus": ("lora", "qlora"),
    "virtual_tokens": ("prompt_tuning", "prefix_tuning"),
    "trainable_layers": ("freeze",),
}
INITS = [(name, name) for name in ("default", "gaussian", "pissa", "olora")]  # adapter.init_lora_weights
ADAPTERS = [
    ("LoRA: low-rank adapters on a 16-bit base", "lora"),
    ("QLoRA: LoRA on a 4-bit NF4 base", "qlora"),
    ("full: every weight trains", "full"),
    ("freeze: only the last layers train", "freeze"),
    ("IA3: learned scaling vectors (tiny)", "ia3"),
    ("prompt tuning: learned virtual tokens", "prompt_tuning"),
    ("prefix tuning: learned keys and values", "prefix_tuning"),
]
METHODS = [
    ("SFT: answers to prompts", "sft"),
    ("Continued pretraining (raw text)", "cpt"),
    ("DPO: preference pairs (prompt, chosen, rejected)", "dpo"),
    ("ORPO: preference pairs, no reference model", "orpo"),
    ("KTO: thumbs-up/down feedback, or pairs", "kto"),
]


class MethodScreen(StepScreen):
    step = 3
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "recommend", "Recommend")]

    def body(self) -> ComposeResult:
        yield Static("", id="memory")
        yield Select(METHODS, value=self.draft.get("method"), allow_blank=False, id="method", compact=True)
        yield Select(ADAPTERS, value=self.draft.get("adapter.type"), allow_blank=False, id="adapter", compact=True)
        with Grid(id="knobs"):
            for field_id, (key, kind, label) in FIELDS.items():
                yield Label(label, id=f"{field_id}-label")
                value = self.draft.get(key)
                yield Input(
                    "" if value is None else str(value),
                    id=field_id,
                    type="integer" if kind is int else "number",
                    compact=True,
                )
            yield Label("LoRA init", id="init-label")
            init = self.draft.get("adapter.init_lora_weights")
            yield Select(INITS, value=init, allow_blank=False, id="init", compact=True)
        yield Checkbox(
            "gradient checkpointing",
            bool(self.draft.get("train.gradient_checkpointing")),
            id="checkpointing",
            compact=True,
        )
        with Horizontal(classes="row"):
            yield Button("Recommend (ctrl+r)", id="recommend", compact=True)
        yield Static("", id="reasons")

    def on_mount(self) -> None:
        self._lora_fields()
        self._refresh()
        self.query_one("#method", Select).focus()

    def _lora_fields(self) -> None:
        adapter = self.draft.get("adapter.type")
        lora = adapter in ("lora", "qlora")
        for field_id in ("r", "lora_alpha", "lora_dropout"):
            self.query_one(f"#{field_id}", Input).disabled = not lora
        for field_id, types in ADAPTER_FIELDS.items():  # each adapter's own knob, only where it means something
            self.query_one(f"#{field_id}").display = adapter in types
            self.query_one(f"#{field_id}-label").display = adapter in types

    @on(Select.Changed, "#init")
    def _init(self, event: Select.Changed) -> None:
        self.draft.set("adapter.init_lora_weights", event.value)
        self._refresh()

    @on(Select.Changed, "#method")
    def _method(self, event: Select.Changed) -> None:
        self.draft.set("method", event.value)
        self._refresh()

    @on(Select.Changed, "#adapter")
    def _adapter(self, event: Select.Changed) -> None:
        if event.value == self.draft.get("adapter.type"):
            return
        self.draft.set("adapter.type", event.value)
        if self.draft.get("adapter.type") == "qlora" and self.draft.get("train.optim") == "adamw_torch":
            self.draft.set("train.optim", "paged_adamw_8bit")  # QLoRA's usual optimizer: its states in 8-bit
        self._lora_fields()
        self._refresh()

    @on(Input.Changed)
    def _knob(self, event: Input.Changed) -> None:
        if event.input.id not in FIELDS:
            return
        key, kind, _ = FIELDS[event.input.id]
        if key == "adapter.loraplus_lr_ratio" and event.value.strip() in ("", "0"):
            self.draft.set(key, None)  # empty: plain LoRA
            self._refresh()
            return
        try:
            value = kind(event.value)
        except ValueError:
            return  # half-typed; the review step validates
        if value <= 0 and key != "adapter.lora_dropout":
            return
        self.draft.set(key, int(value) if kind is int else value)
        self._refresh()

    @on(Checkbox.Changed, "#checkpointing")
    def _checkpointing(self, event: Checkbox.Changed) -> None:
        self.draft.set("train.gradient_checkpointing", event.value)
        self._refresh()

    def draft_updated(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        memory, budget = self.draft.memory(), self.draft.budget_bytes
        widget = self.query_one("#memory", Static)
        if memory is None or budget is None:
            widget.update(Text("Inspect a model (step 2) to see the memory estimate.", style="dim"))
            return
        fits = memory.total <= budget
        head = Text.assemble(
            ("Memory ", "bold"),
            (f"{gib(memory.total)}", "bold green" if fits else "bold red"),
            f" of {gib(budget)} usable on {self.draft.gpu.label if self.draft.gpu else '?'}",
            (" — fits" if fits else " — does NOT fit", "green" if fits else "bold red"),
        )
        legend = Text()
        for term, size in memory.to_dict().items():
            legend.append("■ ", style=TERM_STYLE[term])
            legend.append(f"{term} {gib(size)}  ")
        seconds, cost = self.draft.estimate()
        eta = Text("")
        if seconds is not None:
            eta = Text(f"{about(seconds)} on {self.draft.gpu.label if self.draft.gpu else '?'}", style="dim")
            if cost is not None:
                eta.append(f", ~${cost:,.2f}", style="dim")
        width = max(20, min(70, self.size.width - 6))
        widget.update(Group(head, memory_bar(memory.to_dict(), budget, width=width), legend, eta))

    def action_recommend(self) -> None:
        if self.draft.inspection is None or self.draft.gpu is None:
            self.notify("Pick the GPU (step 1) and inspect a model (step 2) first.", severity="warning")
            return
        plan = self.draft.recommend()
        self.draft.apply(plan)
        for field_id, (key, _, _) in FIELDS.items():
            value = self.draft.get(key)
            self.query_one(f"#{field_id}", Input).value = "" if value is None else str(value)
        self.query_one("#adapter", Select).value = self.draft.get("adapter.type")
        self.query_one("#checkpointing", Checkbox).value = bool(self.draft.get("train.gradient_checkpointing"))
        self._lora_fields()
        self._refresh()
        reasons = Text("Why:", style="bold")
        for reason in plan.reasons:
            reasons.append(f"\n • {reason}")
        self.query_one("#reasons", Static).update(reasons)
        self.call_after_refresh(self.query_one("#reasons").scroll_visible)  # at 80x24 they start below the fold

    @on(Button.Pressed, "#recommend")
    def _recommend_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_recommend()

    def complete(self) -> str | None:
        report = self.state.data_report
        if report is not None and report[1].format and self.draft.get("method") not in methods_for(report[1].format):
            return (
                "DPO/ORPO/KTO train on preference pairs, KTO alone on unpaired feedback (label true/false), SFT and "
                "CPT on other rows: match the method to the data."
            )
        try:
            self.draft.config()
        except FtwizError as exc:
            return str(exc)
        if self.draft.fits() is False:
            self.notify("The estimate does not fit the GPU: it may run out of memory.", severity="warning")
        return None
