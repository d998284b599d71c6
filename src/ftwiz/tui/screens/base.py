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
FIELDS = ", ".join(f"#body {kind}" for kind in ("Input", "Select", "SelectionList", "RadioSet", "Checkbox", "Button"))
"""The widgets a user fills in, in a step's body: what a step first focuses (not a display table, not the body)."""


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
        # Not priority: Input, Select, Button, Checkbox and RadioSet do not bind these keys, so they reach the
        # screen from any field; an open dropdown or a table still pages itself.
        Binding("pagedown", "page_body(1)", "Page down", show=False),
        Binding("pageup", "page_body(-1)", "Page up", show=False),
    ]
    AUTO_FOCUS = FIELDS
    """A step opens on its first field. Applied at compose, before the step hides what it does not show:
    `focus_first_field` (after the mount, and when a step shows new fields) moves focus off a hidden one."""

    def __init__(self, draft: Draft, state: WizardState) -> None:
        super().__init__()
        self.draft = draft
        self.state = state

    def compose(self) -> ComposeResult:
        yield Static(self._step_bar(), id="steps")
        # not focusable: it was the step's first (invisible) focus stop; PageDown/PageUp scroll it instead
        with VerticalScroll(id="body", can_focus=False):
            yield from self.body()
        yield Static("", id="field-help")
        with Horizontal(id="nav"):
            yield Button("Back", id="back", disabled=self.step == 0, compact=True)
            yield Button(self.next_label(), id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        # after the refresh: a step's own on_mount runs first, and its focus() and display changes land then
        self.call_after_refresh(self.focus_first_field)

    def body(self) -> ComposeResult:
        yield from ()

    def focus_first_field(self) -> None:
        """Focus the first field on show, unless focus is already on a widget the user can see."""
        chain = set(self.focus_chain)  # the focusable widgets that are displayed
        if self.focused is not None and self.focused in chain:
            return
        # the body's order, not the chain's: that sorts by position, and fields just shown have none yet
        first = next((widget for widget in self.query(FIELDS) if widget in chain), None)
        if first is not None:
            first.focus()

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

    def action_page_body(self, pages: int) -> None:
        body = self.query_one("#body", VerticalScroll)
        if pages > 0:
            body.scroll_page_down(animate=False)
        else:
            body.scroll_page_up(animate=False)

    # -- help -------------------------------------------------------------------------------------------------
    def _help_key(self, widget: Widget | None) -> str | None:
        while widget is not None:
            if widget.id and widget.id in SHORT:
                return widget.id
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        return None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        key = self._help_key(self.focused)
        self.query_one("#field-help", Static).update(Text(f"{SHORT[key]}  (F1: more)", style="italic") if key else "")

    def action_help(self) -> None:
        key = self._help_key(self.focused) or "adapter"
        self.app.push_screen(FieldHelp(help_markdown(key, self.draft)))
