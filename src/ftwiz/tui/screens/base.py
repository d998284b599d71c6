"""What every wizard step shares: the step bar, the one-line field help, Back/Next, the help panel.

A step gets the Draft and the WizardState in `__init__` and posts messages up (tui/messages.py); it never
reaches into the App."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Markdown, Static
from textual.worker import Worker, WorkerState

from ftwiz.plan.draft import Draft
from ftwiz.tui.help import SHORT, help_markdown
from ftwiz.tui.messages import GoTo
from ftwiz.tui.state import WizardState

STEP_NAMES = ("Hardware", "Model", "Data", "Method", "Review", "Launch")


class FieldHelp(ModalScreen[None]):
    """The longer explanation of the focused field (F1 or ?), with the current model's numbers. (Not named
    HelpPanel: CSS matches type names, so Textual's Keys panel's `HelpPanel` rules would restyle it.)"""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self._markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-panel"):
            yield Markdown(self._markdown)
            yield Button("Close", id="close-help", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()


def _first_line(error: BaseException) -> str:
    return (str(error) or type(error).__name__).splitlines()[0]


def failure_text(error: BaseException, doing: str) -> Text:
    """A worker's failure for a step's status line: the error's first line (and its hint when it has one)."""
    from ftwiz.errors import FtwizError

    if isinstance(error, FtwizError):
        return Text(str(error), style="red")
    return Text(f"{doing} failed: {_first_line(error)} (the traceback is in wizard.log)", style="red")


class StepScreen(Screen[None]):
    """A wizard step. Subclasses give `step`, `body()`, and `complete()` (None when Next may go on)."""

    step: ClassVar[int] = 0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(self, draft: Draft, state: WizardState) -> None:
        super().__init__()
        self.draft = draft
        self.state = state

    def compose(self) -> ComposeResult:
        yield Static(self._step_bar(), id="steps")
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Static("", id="field-help")
        with Horizontal(id="nav"):
            yield Button("Back", id="back", disabled=self.step == 0, compact=True)
            yield Button(self.next_label(), id="next", variant="primary", compact=True)
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def next_label(self) -> str:
        return "Next"

    def complete(self) -> str | None:
        """None when this step's part of the draft is complete; otherwise what is missing."""
        return None

    def draft_updated(self) -> None:
        """The draft changed behind this step's back (`DraftChanged`: e.g. the app's prefetch of the hardware and
        the model landed): show it."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.work_failed(event.worker.error)

    def work_failed(self, error: BaseException) -> None:
        """One of this step's workers raised (the app has logged it and told the user): say so where the step
        waited for it. Steps with a status line of their own override this."""
        self.query_one("#field-help", Static).update(Text(f" {_first_line(error)}", style="red"))

    def _step_bar(self) -> Text:
        text = Text(" ")
        for i, name in enumerate(STEP_NAMES):
            style = "bold reverse" if i == self.step else ("" if i < self.step else "dim")
            text.append(f" {i + 1} {name} ", style=style)
            if i < len(STEP_NAMES) - 1:
                text.append("›", style="dim")
        return text

    # -- navigation -------------------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    def action_next(self) -> None:
        missing = self.complete()
        if missing:
            self.notify(missing, title="Not yet", severity="warning")
            return
        self.post_message(GoTo(self.step + 1))

    def action_back(self) -> None:
        if self.step > 0:
            self.post_message(GoTo(self.step - 1))

    # -- help -------------------------------------------------------------------------------------------------
    def _help_key(self, widget: Widget | None) -> str | None:
        while widget is not None:
            if widget.id and widget.id in SHORT:
                return widget.id
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        return None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        key = self._help_key(self.focused)
        self.query_one("#field-help", Static).update(Text(f" {SHORT[key]}  (F1: more)", style="italic") if key else "")

    def action_help(self) -> None:
        key = self._help_key(self.focused) or "adapter"
        self.app.push_screen(FieldHelp(help_markdown(key, self.draft)))
