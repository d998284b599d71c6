"""Step 3: the data — checked row by row in a worker (format, errors with their line, lengths), a preview
through the chat template with the masked prompt dimmed, a length histogram, the recommended max length."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Sparkline, Static

from ftwiz.data.check import Report, describe
from ftwiz.data.formats import FORMATS as DATA_FORMATS
from ftwiz.data.formats import methods_for
from ftwiz.errors import FtwizError
from ftwiz.tui.screens.base import StepScreen
from ftwiz.tui.state import DataKey

FORMATS = ("auto", *DATA_FORMATS)
PREVIEW_ROWS = 2


class DataScreen(StepScreen):
    step = 2

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

    class Previewed(Message, bubble=False):
        """The check worker's preview of the first rows through the chat template (after its report)."""

        def __init__(self, key: DataKey, preview: Any) -> None:
            super().__init__()
            self.key = key
            self.preview = preview

    def body(self) -> ComposeResult:
        yield Label("Training data (file, folder, glob, or hub dataset)")
        yield Input(self.draft.get("data.path"), placeholder="e.g. ./chats.jsonl", id="data", compact=True)
        with Horizontal(classes="row"):
            yield Select(
                [(f, f) for f in FORMATS],
                value=self.draft.get("data.format"),
                allow_blank=False,
                id="format",
                compact=True,
            )
            yield Select(
                [("on bad rows: stop", "stop"), ("on bad rows: skip", "skip")],
                value=self.draft.get("data.on_error"),
                allow_blank=False,
                id="on_error",
                compact=True,
            )
        yield Static("", id="data-status")
        yield Sparkline([], id="histogram")
        yield Static("", id="histogram-axis")
        with Horizontal(classes="row"):
            yield Button("Use the recommended max length", id="use-length", disabled=True, compact=True)
        yield Static("", id="preview")

    def on_mount(self) -> None:
        self.query_one("#histogram").display = False
        report = self.state.data_report
        if report is not None and report[0] == self._key():
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
        self._error: str | None = None
        self.query_one("#data-status", Static).update(Text(f"Checking {path}…", style="cyan"))
        self._check_worker(self._key(), dict(self.draft.values["data"]), dict(self.draft.values["model"]))

    @work(thread=True, exclusive=True, group="data")
    def _check_worker(self, key: DataKey, data: dict[str, Any], model: dict[str, Any]) -> None:
        from ftwiz.data.check import scan
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
        self.post_message(self.Previewed(key, self._render_preview(rows[:PREVIEW_ROWS], model, data)))

    def _render_preview(self, rows: list[dict[str, Any]], model: dict[str, Any], data: dict[str, Any]) -> Any:
        from ftwiz.data.preview import load_tokenizer, segments

        try:
            tokenizer, note = load_tokenizer(model["id"], data.get("chat_template"), model["trust_remote_code"])
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
        stats = report.token_stats or {}
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
            text.append(
                f"\nrecommended max_length {report.recommended_max_length:,} (covers p99, multiple of 64); "
                f"now {self.draft.get('data.max_length'):,}"
            )
        if report.error_count:
            text.append(f"\n{report.error_count} problem(s):", style="bold red")
            for error in report.errors[:5]:
                text.append(f"\n  {describe(error)}", style="red")
        self.query_one("#data-status", Static).update(text)
        self.query_one("#use-length", Button).disabled = not report.recommended_max_length
        if report.length_histogram:
            spark = self.query_one("#histogram", Sparkline)
            spark.data = [count for _, count in report.length_histogram]
            spark.display = True
            top = report.length_histogram[-1][0]
            self.query_one("#histogram-axis", Static).update(Text(f"rows by length: 0 … {top:,} tokens", style="dim"))

    def on_data_screen_previewed(self, message: Previewed) -> None:
        if message.key == self._key():
            self.query_one("#preview", Static).update(message.preview)

    @on(Button.Pressed, "#use-length")
    def _use_length(self, event: Button.Pressed) -> None:
        event.stop()
        report = self.state.data_report
        if report is not None and report[1].recommended_max_length:
            self.draft.set("data.max_length", report[1].recommended_max_length)
            self._checked(*report)
            self.notify(f"data.max_length = {self.draft.get('data.max_length')}")

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
