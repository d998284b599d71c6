"""What the wizard shows at 80×24 over SSH: nothing stale, nothing cut, a focus you can see, keys that scroll."""

from __future__ import annotations

import pytest
from runfolders import screen_text
from textual.widgets import DataTable, Input
from wizard_kit import MODEL, demo_draft, wizard

from ftwiz.tui.screens.model import ModelScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _inspection_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FTWIZ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ftwiz-cache"))


async def settle(pilot) -> None:
    """Let the step's workers finish and the screen refresh."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def submit(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    widget.value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_a_failed_model_id_takes_the_last_models_table_off_the_screen(tmp_path):
    app = wizard(demo_draft(), start=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ModelScreen)
        table = screen.query_one("#groups", DataTable)
        assert table.display and "q_proj" in screen_text(app)
        await submit(pilot, "#model", "not a model!!")
        text = screen_text(app)
        assert "neither a local path nor a valid hub id" in text
        assert not table.display
        assert "q_proj" not in text and "trainable at r=" not in text  # no table, no counts of the old model
        await submit(pilot, "#model", MODEL)
        assert table.display and "trainable at r=" in screen_text(app)
