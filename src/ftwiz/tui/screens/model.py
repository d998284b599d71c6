"""Step 2: the model — id or path, validated and inspected (in a worker: no torch on the UI thread), and the
LoRA target set with its trainable-parameter count."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Input, Label, RadioButton, RadioSet, Static

from ftwiz.errors import FtwizError
from ftwiz.tui.screens.base import StepScreen, failure_text
from ftwiz.views import human

TARGET_SETS = ("attention_qv", "attention", "all_linear")


class ModelScreen(StepScreen):
    step = 1

    class Inspected(Message, bubble=False):
        """The inspection worker's result for `ref`: the inspection, or why there is none."""

        def __init__(self, ref: str, inspection: dict | None, error: str | None = None) -> None:
            super().__init__()
            self.ref = ref
            self.inspection = inspection
            self.error = error

    def body(self) -> ComposeResult:
        yield Label("Model (hub id, local folder, or ftwiz:tiny-demo/model)")
        yield Input(self.draft.get("model.id"), placeholder="e.g. Qwen/Qwen2.5-0.5B-Instruct", id="model", compact=True)
        yield Static("", id="model-status")
        yield DataTable(id="groups", cursor_type="none", show_cursor=False)
        yield Label("Target modules (adapter.target_modules)")
        with RadioSet(id="targets", compact=True):
            for name in (*TARGET_SETS, "custom"):
                yield RadioButton(name, value=self._current_set() == name, id=f"t-{name}")
        custom = self.draft.get("adapter.target_modules")
        yield Input(
            ",".join(custom) if isinstance(custom, list) else "",
            placeholder="q_proj,v_proj",
            id="custom_targets",
            compact=True,
        )

    def _current_set(self) -> str:
        targets = self.draft.get("adapter.target_modules")
        return "custom" if isinstance(targets, list) else targets

    def on_mount(self) -> None:
        self.query_one("#groups").display = False
        self.query_one("#custom_targets").display = self._current_set() == "custom"
        if self.draft.inspection is not None:
            self._show()
        elif self.draft.get("model.id"):
            self._inspect(self.draft.get("model.id"))
        self.query_one("#model", Input).focus()

    @on(Input.Submitted, "#model")
    def _submitted(self, event: Input.Submitted) -> None:
        self._inspect(event.value.strip())

    def _inspect(self, ref: str) -> None:
        if not ref:
            return
        self.draft.set("model.id", ref)
        self.draft.inspection = None
        self._error: str | None = None
        self._forget_shown()
        self.query_one("#model-status", Static).update(Text(f"Inspecting {ref}…", style="cyan"))
        self._inspect_worker(ref, bool(self.draft.get("model.trust_remote_code")), int(self.draft.get("adapter.r")))

    @work(thread=True, exclusive=True, group="inspect")
    def _inspect_worker(self, ref: str, trust: bool, rank: int) -> None:
        from ftwiz.models.inspect import inspect_reference

        try:
            inspection = inspect_reference(ref, rank=rank, trust_remote_code=trust, isolate=True)
        except FtwizError as exc:
            self.post_message(self.Inspected(ref, None, str(exc)))
            return
        self.post_message(self.Inspected(ref, inspection))

    def on_model_screen_inspected(self, message: Inspected) -> None:
        if self.draft.get("model.id") != message.ref:  # the user typed another id meanwhile
            return
        if message.inspection is None:
            self._error = message.error
            self._forget_shown()
            self.query_one("#model-status", Static).update(Text(message.error or "", style="red"))
            return
        self.draft.inspection = message.inspection
        self._show()

    def _show(self) -> None:
        ins = self.draft.inspection
        assert ins is not None
        self.query_one("#model-status", Static).update(
            Text.assemble(
                (f"{ins['model_type']} ", "bold green"),
                f"{human(ins['params_total'])} parameters, {ins['layers']} layers, hidden {ins['hidden_size']}, "
                f"vocabulary {ins['vocab_size']:,}",
            )
        )
        table = self.query_one("#groups", DataTable)
        table.display = True
        table.clear(columns=True)
        table.add_columns("module", "count", "in → out", "params", "kind")
        for g in ins["linear_groups"]:
            table.add_row(
                g["name"], str(g["count"]), f"{g['in_features']} → {g['out_features']}", human(g["params"]), g["kind"]
            )
        # The table measures its new rows when idle; filled just after the screen's first layout (a fast, cached
        # inspection), the relayout that measurement asks for can wait for the table's next message: ask again
        # after the next refresh, or the table stays 0 lines high.
        self.call_after_refresh(table.refresh, layout=True)
        for name in TARGET_SETS:
            count = ins["trainable_params"].get(name)
            button = self.query_one(f"#t-{name}", RadioButton)
            button.label = f"{name}: {human(count)} trainable at r={ins['rank']}" if count else name

    def _forget_shown(self) -> None:
        """Take the last model's module table and trainable counts off the screen: under a new id (being
        inspected, or failed) they would describe a model the draft no longer has. `_show` brings them back."""
        self.query_one("#groups", DataTable).display = False
        for name in TARGET_SETS:
            self.query_one(f"#t-{name}", RadioButton).label = name

    @on(RadioSet.Changed, "#targets")
    def _targets(self, event: RadioSet.Changed) -> None:
        name = (event.pressed.id or "").removeprefix("t-")
        custom = self.query_one("#custom_targets", Input)
        custom.display = name == "custom"
        if name == "custom":
            self._custom(custom.value)
        else:
            self.draft.set("adapter.target_modules", name)

    @on(Input.Changed, "#custom_targets")
    def _custom_changed(self, event: Input.Changed) -> None:
        if self.query_one("#t-custom", RadioButton).value:
            self._custom(event.value)

    def _custom(self, text: str) -> None:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if names:
            self.draft.set("adapter.target_modules", names)

    def complete(self) -> str | None:
        typed = self.query_one("#model", Input).value.strip()
        if not typed:
            return "Enter a model id or path."
        if typed != self.draft.get("model.id"):
            self._inspect(typed)
            return "Inspecting the model: Next when its table appears."
        if self.draft.inspection is None:
            if getattr(self, "_error", None):
                return f"ftwiz cannot use this model: {self._error.splitlines()[0]}"
            return "Inspecting the model: Next when its table appears."
        if self.query_one("#t-custom", RadioButton).value and not isinstance(
            self.draft.get("adapter.target_modules"), list
        ):
            return "Give the custom target module names."
        return None

    def work_failed(self, error: BaseException) -> None:
        """The inspection raised something unexpected (reported by the app): the step says so, Next refuses."""
        self._error = str(error) or type(error).__name__
        self.query_one("#model-status", Static).update(failure_text(error, "Inspecting the model"))
