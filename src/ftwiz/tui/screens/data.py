"""Step 3: the data — checked row by row in a worker (format, errors with their line, lengths), a preview
through the chat template with the masked prompt dimmed, a length histogram, the recommended max length.

The lengths come from the model's own tokenizer when it is here (a local, cached or bundled model; characters / 4,
marked approximate, otherwise), the recommendation never exceeds the model's context, and before the user accepts
it the screen says how many rows would lose their whole answer at that length (the launch refuses more than 1%)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, LoadingIndicator, Select, Sparkline, Static

from ftwiz.commands.data import LOSING_SHARE_ALLOWED, AnswerFit, LengthAdvice
from ftwiz.data.check import Report, describe
from ftwiz.data.formats import FORMATS as DATA_FORMATS
from ftwiz.data.formats import methods_for
from ftwiz.errors import FtwizError
from ftwiz.tui.screens.base import StepScreen, failure_text
from ftwiz.tui.state import DataKey
from ftwiz.tui.widgets import Dropdown

FORMATS = ("auto", *DATA_FORMATS)
PREVIEW_ROWS = 2


class DataScreen(StepScreen):
    step = 2
    DEFAULT_CSS = """
    #data-spinner { height: 1; width: 12; margin: 1 0 0 0; }
    """

    class Checked(Message, bubble=False):
        """The check worker's report for `key` (data.path, data.format, model.id), or why there is none."""

        def __init__(
            self, key: DataKey, report: Report | None, rows: list[dict[str, Any]], error: str | None = None
        ) -> None:
            super().__init__()
            self.key = key
            self.report = report
            self.rows = rows
            self.error = error

    class Measured(Message, bubble=False):
        """The check worker's lengths for `key`, measured after its report (the model's tokenizer when here)."""

        def __init__(self, key: DataKey, advice: LengthAdvice) -> None:
            super().__init__()
            self.key = key
            self.advice = advice

    class Previewed(Message, bubble=False):
        """The check worker's preview of the first rows through the chat template (after its report)."""

        def __init__(self, key: DataKey, preview: Any) -> None:
            super().__init__()
            self.key = key
            self.preview = preview

    def body(self) -> ComposeResult:
        yield Label("Training data (file, folder, glob, or hub dataset)")
        yield Input(
            self.draft.get("data.path"),
            placeholder="e.g. ./chats.jsonl, or the demo: ftwiz:tiny-demo/data/train.jsonl",
            id="data",
            compact=True,
        )
        with Horizontal(classes="row"):
            yield Dropdown(
                [(f, f) for f in FORMATS],
                value=self.draft.get("data.format"),
                allow_blank=False,
                id="format",
                compact=True,
            )
            yield Dropdown(
                [("on bad rows: stop", "stop"), ("on bad rows: skip", "skip")],
                value=self.draft.get("data.on_error"),
                allow_blank=False,
                id="on_error",
                compact=True,
            )
        yield LoadingIndicator(id="data-spinner")  # shown while a check runs (a hub dataset can take seconds)
        yield Static("", id="data-status")
        yield Sparkline([], id="histogram")
        yield Static("", id="histogram-axis")
        with Horizontal(classes="row"):
            yield Button("Use the recommended max length", id="use-length", disabled=True, compact=True)
        yield Static("", id="preview")

    def on_mount(self) -> None:
        self.query_one("#histogram").display = False
        self._waiting(False)
        report, lengths = self.state.data_report, self.state.data_lengths
        if report is not None and report[0] == self._key() and lengths is not None and lengths[0] == self._key():
            self._checked(self._key(), report[1], report[2])
        elif self.draft.get("data.path"):
            self._check()
        self.query_one("#data", Input).focus()

    def _key(self) -> DataKey:
        return (self.draft.get("data.path"), self.draft.get("data.format"), self.draft.get("model.id"))

    @on(Input.Submitted, "#data")
    def _submitted(self, event: Input.Submitted) -> None:
        self.draft.set("data.path", event.value.strip())
        self._check()

    @on(Select.Changed, "#format")
    def _format(self, event: Select.Changed) -> None:
        if event.value != self.draft.get("data.format"):
            self.draft.set("data.format", event.value)
            self._check()

    @on(Select.Changed, "#on_error")
    def _on_error(self, event: Select.Changed) -> None:
        self.draft.set("data.on_error", event.value)

    def _check(self) -> None:
        path = self.draft.get("data.path")
        if not path:
            return
        self.state.data_report = None
        self.state.data_lengths = None
        self._error: str | None = None
        self.query_one("#data-status", Static).update(Text(f"Checking {path}…", style="cyan"))
        self._waiting(True)
        answers = self.draft.get("method") == "sft" and self.draft.get("data.train_on") == "assistant"
        self._check_worker(self._key(), dict(self.draft.values["data"]), dict(self.draft.values["model"]), answers)

    @work(thread=True, exclusive=True, group="data")
    def _check_worker(self, key: DataKey, data: dict[str, Any], model: dict[str, Any], answers: bool) -> None:
        """Scan (fast, posted at once), then the model's tokenizer: exact lengths and the rows that would lose
        their answer (posted next), then the preview through its template."""
        from ftwiz.data.check import scan
        from ftwiz.data.preview import load_tokenizer
        from ftwiz.data.source import rows_from

        rows: list[dict[str, Any]] = []
        try:
            fmt = None if data["format"] == "auto" else data["format"]
            report = scan(
                rows_from(data["path"], subset=data.get("subset"), split=data["split"]),
                fmt=fmt,
                columns=data.get("columns"),
                keep=rows,
            )
        except FtwizError as exc:
            self.post_message(self.Checked(key, None, [], str(exc)))
            return
        self.post_message(self.Checked(key, report, rows[:PREVIEW_ROWS]))
        try:
            tokenizer, note = load_tokenizer(model["id"], data.get("chat_template"), model["trust_remote_code"])
        except Exception as exc:  # no tokenizer: lengths stay approximate, and the preview says why it is missing
            tokenizer, note = None, f"No preview: {exc}"
        self.post_message(self.Measured(key, measure(report, rows, tokenizer, data, model, answers)))
        self.post_message(self.Previewed(key, self._render_preview(rows[:PREVIEW_ROWS], tokenizer, note, data)))

    def _render_preview(self, rows: list[dict[str, Any]], tokenizer: Any, note: str, data: dict[str, Any]) -> Any:
        from ftwiz.data.preview import segments

        if note.startswith("No preview"):
            return Text(note, style="yellow")
        try:
            pieces = [segments(row, tokenizer, data["train_on"]) for row in rows]
        except Exception as exc:  # a preview must never break the step: say why it is missing
            return Text(f"No preview: {exc}", style="yellow")
        parts: list[Any] = [Text(f"How the model sees {len(rows)} rows ({note}); dim = masked, no loss:", style="bold")]
        for row in pieces:
            text = Text()
            for piece, trained in row:
                text.append(piece, style="bold" if trained else "dim")
            parts.append(text)
        return Group(*parts)

    def on_data_screen_checked(self, message: Checked) -> None:
        if message.key != self._key():  # the user changed the path, format or model meanwhile
            return
        self._waiting(False)
        if message.report is None:
            self._error = message.error
            self.query_one("#data-status", Static).update(Text(message.error or "", style="red"))
            return
        self._checked(message.key, message.report, message.rows)

    def _checked(self, key: DataKey, report: Report, rows: list[dict[str, Any]]) -> None:
        if key != self._key():
            return
        self.state.data_report = (key, report, rows)
        if report.format and self.draft.get("method") not in methods_for(report.format):
            method = methods_for(report.format)[0]
            self.draft.set("method", method)
            self.notify(f"{report.format} rows: method set to {method}")
        lengths = self.state.data_lengths
        advice = lengths[1] if lengths is not None and lengths[0] == key else None
        shown = advice.report if advice is not None else report
        stats = shown.token_stats or {}
        self.draft.tokens = stats.get("total")
        text = Text.assemble(
            ("format ", "dim"),
            (f"{report.format}", "bold"),
            ("  rows ", "dim"),
            f"{report.rows:,}",
            ("  valid ", "dim"),
            (f"{report.valid_rows:,}", "green" if report.valid_rows == report.rows else "yellow"),
        )
        if report.labels:
            text.append("  desirable ", "dim").append(f"{report.labels['desirable']:,}")
            text.append("  undesirable ", "dim").append(f"{report.labels['undesirable']:,}")
        if stats:
            approx = "~" if stats.get("approximate") else ""
            text.append(
                f"\ntokens per row {approx}p50 {stats['p50']:,}, p99 {stats['p99']:,}, max {stats['max']:,};"
                f" {approx}{stats['total']:,} in all"
            )
            text.append_text(length_lines(advice, int(self.draft.get("data.max_length"))))
        if report.error_count:
            text.append(f"\n{report.error_count} problem(s):", style="bold red")
            for error in report.errors[:5]:
                text.append(f"\n  {describe(error)}", style="red")
        self.query_one("#data-status", Static).update(text)
        self.query_one("#use-length", Button).disabled = advice is None or not advice.report.recommended_max_length
        if shown.length_histogram:
            spark = self.query_one("#histogram", Sparkline)
            spark.data = [count for _, count in shown.length_histogram]
            spark.display = True
            top = shown.length_histogram[-1][0]
            self.query_one("#histogram-axis", Static).update(Text(f"rows by length: 0 … {top:,} tokens", style="dim"))

    def on_data_screen_measured(self, message: Measured) -> None:
        report = self.state.data_report
        if message.key != self._key() or report is None or report[0] != message.key:
            return
        self.state.data_lengths = (message.key, message.advice)
        self._checked(*report)

    def on_data_screen_previewed(self, message: Previewed) -> None:
        if message.key == self._key():
            self.query_one("#preview", Static).update(message.preview)

    @on(Button.Pressed, "#use-length")
    def _use_length(self, event: Button.Pressed) -> None:
        event.stop()
        report, lengths = self.state.data_report, self.state.data_lengths
        if report is not None and lengths is not None and lengths[1].report.recommended_max_length:
            self.draft.set("data.max_length", lengths[1].report.recommended_max_length)
            self._checked(*report)
            self.notify(f"data.max_length = {self.draft.get('data.max_length')}")

    def _waiting(self, waiting: bool) -> None:
        self.query_one("#data-spinner", LoadingIndicator).display = waiting

    def work_failed(self, error: BaseException) -> None:
        """The check raised something unexpected (reported by the app): the step says so, Next refuses."""
        self._waiting(False)
        self._error = str(error) or type(error).__name__
        self.query_one("#data-status", Static).update(failure_text(error, "Checking the data"))

    def complete(self) -> str | None:
        typed = self.query_one("#data", Input).value.strip()
        if not typed:
            return "Enter the training data's path."
        if typed != self.draft.get("data.path"):
            self.draft.set("data.path", typed)
            self._check()
            return "Checking the data: Next when its report appears."
        if self.state.data_report is None:
            if getattr(self, "_error", None):
                return f"ftwiz cannot read this data: {self._error.splitlines()[0]}"
            return "Checking the data: Next when its report appears."
        report = self.state.data_report[1]
        if not report.valid_rows:
            return "No usable rows."
        if report.error_count and self.draft.get("data.on_error") == "stop":
            return f"{report.error_count} problem(s) in the data: fix them, or choose 'on bad rows: skip'."
        return None


def measure(
    report: Report,
    rows: list[dict[str, Any]],
    tokenizer: Any,
    data: dict[str, Any],
    model: dict[str, Any],
    answers: bool,
) -> LengthAdvice:
    """The lengths for the screen (in the check worker): the model's tokenizer when it is here, else, or when it
    fails on these rows, characters / 4; the recommendation capped at the model's context."""
    from ftwiz.commands.data import advise_length, model_context

    try:
        context = model_context(model["id"], trust_remote_code=model["trust_remote_code"])
    except FtwizError:
        context = None
    options = {"model_ref": model["id"], "context": context, "answers": answers}
    if tokenizer is not None:
        try:
            return advise_length(report, rows, tokenizer=tokenizer, chat_template=data.get("chat_template"), **options)
        except Exception:  # the template fails on these rows: the report lists them; lengths stay approximate
            pass
    return advise_length(report, rows, tokenizer=None, **options)


def length_lines(advice: LengthAdvice | None, current: int) -> Text:
    """The recommended max length, where it comes from, and how many rows would lose their answer at it and at
    the current length."""
    if advice is None:
        return Text("\nmeasuring lengths with the model's tokenizer…", style="cyan")
    report, approx = advice.report, "~" if advice.approximate else ""
    recommended = report.recommended_max_length or 0
    why = "covers p99, multiple of 64"
    if report.max_length_capped_at:
        why = f"capped at the model's context; p99 is {(report.token_stats or {}).get('p99', 0):,}"
    text = Text(f"\nrecommended max_length {approx}{recommended:,} ({why}; {advice.source})")
    text.append_text(_losing("at", advice.fit(recommended), approx))
    now = advice.fit(current) if current != recommended else None
    text.append_text(_losing("now", now, approx) if now is not None else Text(f"\n  now {current:,}"))
    if advice.context and current > advice.context:
        text.append(f" (beyond the model's {advice.context:,}-token context: the launch refuses it)", style="bold red")
    return text


def _losing(label: str, fit: AnswerFit | None, approx: str) -> Text:
    if fit is None:
        return Text("")
    style = "green" if not fit.losing else ("bold red" if fit.share > LOSING_SHARE_ALLOWED else "yellow")
    lost = f"{approx}{fit.losing:,} of {fit.rows:,} rows lose their answer"
    return Text(f"\n  {label} {fit.max_length:,}: {lost}", style=style)
