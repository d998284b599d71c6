"""What the wizard shows at 80×24 over SSH: nothing stale, nothing cut, a focus you can see, keys that scroll."""

from __future__ import annotations

import pytest
from runfolders import screen_text
from textual.color import Color
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, RadioButton
from wizard_kit import MODEL, ONE_GPU, demo_draft, wizard

from ftwiz.tui.help import SHORT
from ftwiz.tui.screens.model import ModelScreen
from ftwiz.tui.screens.review import ReviewScreen

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
        assert "q_proj" not in text  # no table of the old model
        assert str(screen.query_one("#t-attention_qv", RadioButton).label) == "attention_qv"  # nor its counts
        await submit(pilot, "#model", MODEL)
        assert table.display and "q_proj" in screen_text(app)
        # the counts are back on the target buttons (at 80x24 they sit below the fold, under the table)
        assert "trainable at r=" in str(screen.query_one("#t-attention_qv", RadioButton).label)


FIRST_FIELD = {0: "plan_gpu", 1: "model", 2: "data", 3: "method", 4: "save_path", 5: "launch"}


@pytest.mark.parametrize("step", sorted(FIRST_FIELD))
async def test_each_step_opens_on_its_first_field_with_a_focus_you_can_see(tmp_path, step):
    app = wizard(demo_draft(), start=step)  # no GPU here: the Hardware step's first field is the card to plan for
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        focused = app.focused
        assert focused is not None and focused.id == FIRST_FIELD[step]
        assert focused in app.screen.focus_chain  # displayed, not a hidden or invisible stop
        assert app.screen.region.contains_region(focused.region)  # on the screen
        # the accent bar, not one shade of background
        assert focused.styles.border_left == ("tall", Color.parse(app.theme_variables["accent"]))


async def test_the_hardware_step_with_local_gpus_opens_on_their_list(tmp_path):
    app = wizard(demo_draft(), hardware=ONE_GPU)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "gpus"


@pytest.mark.parametrize(("step", "field"), [(2, "#data"), (4, "#save_path"), (4, "#next")])
async def test_page_down_scrolls_the_step_from_any_field(tmp_path, step, field):
    app = wizard(demo_draft(), start=step)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        body = app.screen.query_one("#body", VerticalScroll)
        assert body.max_scroll_y > 0  # the body overflows at 80x24
        app.screen.query_one(field).focus()
        await pilot.pause()
        assert body.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert body.scroll_y > 0
        assert app.focused is app.screen.query_one(field)  # the key scrolled; it did not move focus
        await pilot.press("pageup")
        await pilot.pause()
        assert body.scroll_y == 0


def words_on_screen(app) -> set[str]:
    return set(screen_text(app).split())


@pytest.mark.parametrize(("step", "field"), [(1, "model"), (2, "data"), (3, "method")])
async def test_the_field_help_wraps_at_80_columns_instead_of_losing_its_end(tmp_path, step, field):
    assert len(SHORT[field]) > 76  # longer than the line: it used to be cut ("…a local folder, or")
    app = wizard(demo_draft(), start=step)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.focused is not None and app.focused.id == field
        shown = words_on_screen(app)
        assert [word for word in SHORT[field].split() if word not in shown] == []  # "Enter inspects it." too


LONG_DESCRIPTION = (
    "microsoft/phi-2 (2.7B) QLoRA — 4-bit NF4 base, LoRA r16 on every attention and MLP projection; fits a 16 GB GPU."
)


async def test_a_long_yaml_line_on_review_is_wrapped_not_cropped(tmp_path):
    draft = demo_draft()
    draft.set("description", LONG_DESCRIPTION)  # the phi2-qlora preset's: cropped at "LoRA r16 on ever"
    app = wizard(draft, start=4)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        shown = words_on_screen(app)
        assert [word for word in LONG_DESCRIPTION.split() if word not in shown] == []
