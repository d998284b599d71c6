"""Step 4: the method and its knobs, with a live memory bar from the estimator (red when it does not fit) and a
Recommend action that fills in the planner's choice with its reasons."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, Collapsible, Input, Label, Select, Static

from ftwiz.config.values import RUN_NAME
from ftwiz.data.formats import methods_for
from ftwiz.errors import FtwizError
from ftwiz.plan.draft import about, gib
from ftwiz.tui.help import no_gpu_notice
from ftwiz.tui.screens.base import StepScreen
from ftwiz.tui.widgets import Dropdown, Tick
from ftwiz.views import TERM_STYLE, legend_terms, memory_bar

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
# The "More" group (collapsed): field id -> (draft key, type, label). Every *_steps counts optimizer steps.
MORE_FIELDS: dict[str, tuple[str, type, str]] = {
    "max_steps": ("train.max_steps", int, "max steps"),
    "logging_steps": ("train.logging_steps", int, "log every"),
    "run_name": ("output.run_name", str, "run name"),
    "eval_steps": ("train.eval_steps", int, "eval every"),
    "save_steps": ("train.save_steps", int, "save every"),
}
EMPTY: dict[str, Any] = {  # what an empty field means, for the fields that may be empty
    "max_steps": -1,  # train for the epochs
    "eval_steps": None,  # no evaluations in between
    "save_steps": None,  # only the final adapter
    "run_name": None,  # the preset's or the model's name
    "loraplus": None,  # plain LoRA
}
PLACEHOLDERS = {"max_steps": "epochs", "eval_steps": "none", "save_steps": "end only", "run_name": "automatic"}
# transformers' schedulers that start with no `lr_scheduler_kwargs` and no evaluations (get_scheduler gives the
# rest their defaults); cosine_with_min_lr, cosine_warmup_with_min_lr and warmup_stable_decay need kwargs, and
# reduce_lr_on_plateau needs eval metrics: those stay YAML-only.
SCHEDULERS = [
    (name, name)
    for name in (
        "cosine",
        "linear",
        "constant_with_warmup",
        "constant",
        "cosine_with_restarts",
        "polynomial",
        "inverse_sqrt",
    )
]
ADAPTER_FIELDS = {  # field id -> the adapter types it belongs to
    "init": ("lora", "qlora"),
    "loraplus": ("lora", "qlora"),
    "virtual_tokens": ("prompt_tuning", "prefix_tuning"),
    "trainable_layers": ("freeze",),
}
INITS = [(name, name) for name in ("default", "gaussian", "pissa", "olora")]  # adapter.init_lora_weights
# model.attn_implementation: None lets transformers choose (SDPA); the Hub kernel needs the `kernels` package.
ATTENTION = [
    ("auto (SDPA)", None),
    ("sdpa", "sdpa"),
    ("flash_attention_2", "flash_attention_2"),
    ("kernels: flash-attn2", "kernels-community/flash-attn2"),
    ("eager", "eager"),
]
# The memory savers: Tick id -> the train key it sets.
SAVERS = {"offload": "train.activation_offloading", "liger": "train.use_liger_kernel"}  # adapter.init_lora_weights
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


def parse_field(field_id: str, text: str) -> Any:
    """A knob's text as its draft value, or ValueError saying what is wrong with it (shown under the form)."""
    key, kind, label = FIELDS.get(field_id) or MORE_FIELDS[field_id]
    text = text.strip()
    if not text or (field_id == "loraplus" and text == "0"):
        if field_id in EMPTY:
            return EMPTY[field_id]
        raise ValueError(f"{label}: needs a value")
    if kind is str:
        if not RUN_NAME.match(text):
            raise ValueError(f"{label}: letters, digits, '.', '_' or '-' (it names a folder), not {text!r}")
        return text
    try:
        value = int(text) if kind is int else float(text)
    except ValueError:
        raise ValueError(f"{label}: expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
    if field_id == "max_steps" and value == -1:
        return value  # -1: train for the epochs, as in the YAML
    if key == "adapter.lora_dropout":
        if not 0 <= value < 1:
            raise ValueError(f"{label}: expected 0 or more and below 1, got {text}")
    elif value <= 0:
        raise ValueError(f"{label}: expected more than 0, got {text}")
    return value


class FieldRule(Validator):
    """parse_field as the Input's validator, so Textual marks the field invalid (red) by the same rule on every
    change and blur."""

    def __init__(self, field_id: str) -> None:
        super().__init__()
        self.field_id = field_id

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_field(self.field_id, value)
        except ValueError as exc:
            return self.failure(str(exc), value)
        return self.success()


class MethodScreen(StepScreen):
    step = 3
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "recommend", "Recommend")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._errors: dict[str, str] = {}  # field id -> what is wrong with its text (the draft keeps its value)

    def body(self) -> ComposeResult:
        yield Static("", id="memory")
        yield Dropdown(METHODS, value=self.draft.get("method"), allow_blank=False, id="method", compact=True)
        yield Dropdown(ADAPTERS, value=self.draft.get("adapter.type"), allow_blank=False, id="adapter", compact=True)
        with Grid(id="knobs"):
            for field_id, (key, kind, label) in FIELDS.items():
                yield Label(label, id=f"{field_id}-label")
                value = self.draft.get(key)
                yield Input(
                    "" if value is None else str(value),
                    id=field_id,
                    type="integer" if kind is int else "number",
                    validators=[FieldRule(field_id)],
                    compact=True,
                )
            yield Label("LoRA init", id="init-label")
            init = self.draft.get("adapter.init_lora_weights")
            yield Dropdown(INITS, value=init, allow_blank=False, id="init", compact=True)
        yield Tick(
            "gradient checkpointing",
            bool(self.draft.get("train.gradient_checkpointing")),
            id="checkpointing",
            compact=True,
        )
        more = "More: steps, logging, run name, LR schedule, attention, memory savers"
        with Collapsible(title=more, id="more"):
            yield from self._more()
        yield Static("", id="knob-error")
        with Horizontal(classes="row"):
            yield Button("Recommend (ctrl+r)", id="recommend", compact=True)
        yield Static("", id="reasons")

    def _more(self) -> ComposeResult:
        with Grid(id="more-knobs"):
            for field_id, (key, kind, label) in MORE_FIELDS.items():
                yield Label(label, id=f"{field_id}-label")
                value = self.draft.get(key)
                shown = "" if value is None or value == EMPTY.get(field_id) else str(value)
                yield Input(
                    shown,
                    id=field_id,
                    type="integer" if kind is int else "text",
                    placeholder=PLACEHOLDERS.get(field_id, ""),
                    validators=[FieldRule(field_id)],
                    compact=True,
                )
            yield Label("LR schedule", id="lr_scheduler-label")
            scheduler = self.draft.get("train.lr_scheduler_type")
            options = SCHEDULERS + ([] if (scheduler, scheduler) in SCHEDULERS else [(scheduler, scheduler)])
            yield Dropdown(options, value=scheduler, allow_blank=False, id="lr_scheduler", compact=True)
            yield Label("attention", id="attention-label")
            attention = self.draft.get("model.attn_implementation")
            choices = ATTENTION + ([] if any(v == attention for _, v in ATTENTION) else [(attention, attention)])
            yield Dropdown(choices, value=attention, allow_blank=False, id="attention", compact=True)
        with Horizontal(id="savers"):
            yield Tick("offload activations", bool(self.draft.get(SAVERS["offload"])), id="offload", compact=True)
            yield Tick("Liger kernels", bool(self.draft.get(SAVERS["liger"])), id="liger", compact=True)

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
        self._show_errors()

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

    @on(Select.Changed, "#attention")
    def _attention(self, event: Select.Changed) -> None:
        self.draft.set("model.attn_implementation", event.value)
        self._refresh()

    @on(Checkbox.Changed, "#offload, #liger")
    def _saver(self, event: Checkbox.Changed) -> None:
        self.draft.set(SAVERS[event.checkbox.id or ""], event.value)
        self._refresh()

    @on(Select.Changed, "#lr_scheduler")
    def _scheduler(self, event: Select.Changed) -> None:
        self.draft.set("train.lr_scheduler_type", event.value)

    @on(Input.Changed)
    def _knob(self, event: Input.Changed) -> None:
        field_id = event.input.id
        if field_id not in FIELDS and field_id not in MORE_FIELDS:
            return
        key = (FIELDS.get(field_id) or MORE_FIELDS[field_id])[0]
        try:
            value = parse_field(field_id, event.value)
        except ValueError as exc:  # the draft keeps its last good value; Next refuses until this is fixed
            self._errors[field_id] = str(exc)
        else:
            self._errors.pop(field_id, None)
            self.draft.set(key, value)
        self._show_errors()
        self._refresh()

    def _show_errors(self) -> None:
        errors = self._live_errors()
        self.query_one("#knob-error", Static).update(Text("\n".join(errors), style="red") if errors else "")

    def _live_errors(self) -> list[str]:
        """The errors of the fields this adapter shows and uses (a hidden LoRA+ ratio does not block Next)."""
        live = []
        for field_id, error in self._errors.items():
            widget = self.query_one(f"#{field_id}", Input)
            if widget.display and not widget.disabled:
                live.append(error)
        return live

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
        for term, size in legend_terms(memory.to_dict()):
            legend.append("■ ", style=TERM_STYLE[term])
            legend.append(f"{term} {gib(size)}  ")
        seconds, cost = self.draft.estimate()
        eta = Text("")
        if seconds is not None:
            eta = Text(f"{about(seconds)} on {self.draft.gpu.label if self.draft.gpu else '?'}", style="dim")
            if cost is not None:
                eta.append(f", ~${cost:,.2f}", style="dim")
        notice = no_gpu_notice(self.state.hardware, self.draft)
        width = max(20, min(70, self.size.width - 6))
        parts = [head, memory_bar(memory.to_dict(), budget, width=width), legend, eta]
        widget.update(Group(*parts, Text(notice, style="yellow")) if notice else Group(*parts))

    def action_recommend(self) -> None:
        if self.draft.inspection is None or self.draft.gpu is None:
            self.notify("Pick the GPU (step 1) and inspect a model (step 2) first.", severity="warning")
            return
        plan = self.draft.recommend()
        self.draft.apply(plan)  # the learning rate too, with its reason among the others
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
        if errors := self._live_errors():
            return errors[0]
        try:
            self.draft.config()
        except FtwizError as exc:
            return str(exc)
        if self.draft.fits() is False:
            self.notify("The estimate does not fit the GPU: it may run out of memory.", severity="warning")
        return None
