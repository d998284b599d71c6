"""What a new user met at 80x24, keyboard only: saving never overwrites a file the wizard did not write; Quit is
in the footer and Esc closes the Keys panel; arrows walk past dropdowns; a checkbox says on or off; a small
terminal is named; F1 answers the focused field first."""

from __future__ import annotations

from pathlib import Path

import pytest
from runfolders import screen_text
from textual.geometry import Region
from textual.widgets import Select
from wizard_kit import demo_draft, wizard

from ftwiz.tui.help import help_markdown
from ftwiz.tui.screens.launch import LaunchScreen
from ftwiz.tui.screens.review import ConfirmOverwrite, ReviewScreen
from ftwiz.tui.widgets import Tick

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _inspection_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FTWIZ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ftwiz-cache"))


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


MINE = "# my own config, hand-written\nmodel: {id: somebody/else}\n"


@pytest.mark.parametrize(
    ("answer", "kept", "written", "step"),
    [
        pytest.param("enter", True, "ftwiz-run-2.yaml", LaunchScreen, id="save-as-a-new-name"),
        pytest.param("escape", True, None, ReviewScreen, id="cancel"),
    ],
)
async def test_next_on_review_asks_before_overwriting_a_file_it_did_not_write(
    tmp_path: Path, answer: str, kept: bool, written: str | None, step: type
):
    target = tmp_path / "ftwiz-run.yaml"
    target.write_text(MINE)
    app = wizard(demo_draft(), start=4, config_path=str(target))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmOverwrite)
        await pilot.press(answer)
        await settle(pilot)
        assert isinstance(app.screen, step)
    assert (target.read_text() == MINE) is kept
    if written:
        assert "ftwiz:tiny-demo/model" in (tmp_path / written).read_text()
        assert app.state.config_path == str(tmp_path / written)  # the launch records the file it saved
    else:
        assert not (tmp_path / "ftwiz-run-2.yaml").exists()


async def test_overwrite_is_a_choice_and_saving_again_does_not_ask(tmp_path: Path):
    target = tmp_path / "ftwiz-run.yaml"
    target.write_text(MINE)
    app = wizard(demo_draft(), start=4, config_path=str(target))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmOverwrite)
        app.screen.query_one("#overwrite").press()
        await settle(pilot)
        assert "ftwiz:tiny-demo/model" in target.read_text()
        await pilot.press("ctrl+n")  # the wizard wrote it: Next saves over it without asking
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen)


async def test_the_footer_shows_quit_and_escape_closes_the_keys_panel():
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "^q Quit" in screen_text(app)
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        await pilot.press("f1")  # the field help opens where it always does (Keys' CSS does not reach it)
        await pilot.pause()
        assert app.screen.query_one("#help-panel").region == Region(8, 2, 64, 19)


async def test_arrows_walk_past_a_dropdown_and_enter_opens_it():
    app = wizard(demo_draft(), start=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        fmt = app.screen.query_one("#format", Select)
        fmt.focus()
        await pilot.press("down")
        await pilot.pause()
        assert not fmt.expanded and app.focused is app.screen.query_one("#on_error")
        await pilot.press("up")
        await pilot.pause()
        assert not fmt.expanded and app.focused is fmt
        await pilot.press("enter")
        await pilot.pause()
        assert fmt.expanded


def test_a_checkbox_shows_a_tick_only_when_on():
    box = Tick("gradient checkpointing", value=True)
    assert box.BUTTON_INNER == "✓"
    box.value = False
    assert box.BUTTON_INNER == " "


async def test_a_terminal_below_80x24_is_told_so_once():
    app = wizard(demo_draft(), start=0)
    async with app.run_test(size=(80, 24)) as pilot:
        seen = record_toasts(app)
        await settle(pilot)
        assert not seen
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.resize_terminal(62, 20)
        await pilot.pause()
        assert len([m for m in seen if "60×20" in m]) == 1 and len(seen) == 1
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert len(seen) == 1


def test_f1_answers_the_focused_field_before_the_glossary():
    page = help_markdown("packing", demo_draft())
    first, _, rest = page.partition("\n\n---\n\n")
    assert first.startswith("## Packing") and "Packing puts several rows" in first
    assert rest.startswith("## Other topics") and "### NF4" in rest and "### Packing" not in rest
    assert "NF4" not in first


def record_toasts(app) -> list[str]:
    seen: list[str] = []
    original = app.notify

    def notify(message, *args, **kwargs):
        seen.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    return seen
