"""What the wizard's step screens tell the App. Screens get their Draft and WizardState in `__init__` and never
touch the App: they post these, they bubble from the screen to the App, and its handlers act on them.

- `GoTo(step)`     -> `WizardApp.on_go_to`: show that step (Next, Back).
- `Launched(run)`  -> `WizardApp.on_launched`: the worker started; hand over to the monitor.
- `DraftChanged()` -> `WizardApp.on_draft_changed`: the draft changed behind the current step's back (a
  background result landed: today the App's own prefetch of the hardware and the model, which posts it once it
  has applied them): the current step redraws from the draft (`StepScreen.draft_updated`).

A worker's own result (an inspection, a data report, the doctor's checks) is a message nested in its screen
(`ModelScreen.Inspected` -> `on_model_screen_inspected`), posted from the worker thread (`post_message` is
thread-safe) and applied by the handler on the main thread.
"""

from __future__ import annotations

from textual.message import Message

from ftwiz.runs.store import RunDir


class GoTo(Message):
    """Show wizard step `step` (0-based, as `STEP_NAMES`)."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step


class Launched(Message):
    """The Launch step started a run: its folder, with a worker running in it."""

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run


class DraftChanged(Message):
    """The draft or the wizard state changed outside the current step's own fields: redraw it."""
