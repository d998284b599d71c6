"""Step behaviours a new user met at 80x24: saving never overwrites a file the wizard did not write, ..."""

from __future__ import annotations

from pathlib import Path

import pytest
from wizard_kit import demo_draft, wizard

from ftwiz.tui.screens.launch import LaunchScreen
from ftwiz.tui.screens.review import ConfirmOverwrite, ReviewScreen

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
