"""The wizard driven with the keyboard through Pilot: every step, the saved config, the launch, the help."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from runfolders import screen_text
from wizard_kit import DATA, MODEL, ONE_GPU, demo_draft, wizard

from ftwiz.commands import launch
from ftwiz.config.presets import load_config_file
from ftwiz.runs.store import RunDir, read_status, request_stop
from ftwiz.tui.screens.data import DataScreen
from ftwiz.tui.screens.hardware import HardwareScreen
from ftwiz.tui.screens.launch import LaunchScreen
from ftwiz.tui.screens.method import MethodScreen
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
    """Let the step's workers (inspection, data scan, preview) finish and the screen refresh."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def spawned(monkeypatch):
    """The workers the Launch step starts (the real ones, through commands.launch). Whatever the test does, none
    outlives it: one still running at teardown has its process group (its own session) killed, and is waited for."""
    workers: list[subprocess.Popen] = []
    spawn = launch.spawn_worker

    def spawn_and_keep(run: RunDir) -> subprocess.Popen:
        workers.append(spawn(run))
        return workers[-1]

    monkeypatch.setattr(launch, "spawn_worker", spawn_and_keep)
    yield workers
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_and_wait(run: RunDir, proc: subprocess.Popen, timeout: float = 120) -> str:
    """Stop a launched worker as a user would (a stop request), wait up to `timeout` for it to end, and say the
    state it ended in ("" while it still runs: the `spawned` fixture kills it then)."""
    request_stop(run)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return ""
    return read_status(run).get("state", "")


async def type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def test_the_whole_flow_from_an_empty_wizard_to_a_launched_run(tmp_path: Path, monkeypatch, spawned):
    monkeypatch.chdir(tmp_path)
    app = wizard()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HardwareScreen)
        assert app.draft.gpu is not None and app.draft.gpu.gpu.name == "A100-80GB"  # nothing local: plan for one
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ModelScreen)
        await pilot.press("ctrl+n")  # nothing typed yet: stays, says why
        assert isinstance(app.screen, ModelScreen)
        await type_into(pilot, "#model", MODEL)
        await pilot.press("enter")
        await settle(pilot)
        assert app.draft.inspection is not None and app.draft.inspection["model_type"] == "llama"
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DataScreen)
        await type_into(pilot, "#data", DATA)
        await pilot.press("enter")
        await settle(pilot)
        assert app.state.data_report is not None and app.state.data_report[1].valid_rows == 2000
        await pilot.click("#use-length")
        assert app.draft.get("data.max_length") == 128  # the demo's tokenizer: p99 117 (characters / 4 said 64)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, MethodScreen)
        await type_into(pilot, "#r", "8")
        assert app.draft.get("adapter.r") == 8
        await pilot.press("ctrl+r")  # Recommend: fills the knobs, says why
        assert "Why:" in screen_text(app) and "peak" in screen_text(app)
        app.draft.set("train.max_steps", 3)  # keep the launched run short (the More group has a field for it)
        app.draft.set("output.runs_dir", str(tmp_path / "runs"))
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ReviewScreen)
        await type_into(pilot, "#save_path", str(tmp_path / "mine.yaml"))
        await pilot.press("ctrl+n")  # saves, then goes on
        assert isinstance(app.screen, LaunchScreen)
        saved = load_config_file(tmp_path / "mine.yaml")
        assert (saved.model.id, saved.data.path, saved.adapter.r, saved.data.max_length) == (MODEL, DATA, 8, 128)
        await pilot.press("enter")  # Launch
        await settle(pilot)
    run = app.state.launched_run
    assert run is not None and len(spawned) == 1  # one launch, one worker
    assert run.path.parent == tmp_path / "runs"
    assert yaml.safe_load(run.config.read_text())["adapter"]["r"] == 8
    assert "ftwiz train" in run.command.read_text() and "mine.yaml" in run.command.read_text()
    # Right after the launch the run is waiting or loading the model, its worker alive (not died, not failed).
    assert read_status(run)["state"] in ("queued", "loading") and spawned[0].poll() is None
    # Not this test's business to train it through: stopped on request, before its first step.
    assert stop_and_wait(run, spawned[0]) == "stopped"


async def test_a_preset_opens_pre_filled_and_a_config_file_at_review(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = wizard(demo_draft(), start=4, config_path="tiny.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "ftwiz train tiny.yaml --headless" in screen_text(app)
        await pilot.press("ctrl+s")
        assert (tmp_path / "tiny.yaml").is_file()
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, MethodScreen)


async def test_local_gpus_are_listed_and_chosen(tmp_path: Path):
    app = wizard(hardware=ONE_GPU)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert app.draft.gpu.gpu.name == "NVIDIA L4" and app.draft.usable_bytes == 22 * 1024**3
        assert "NVIDIA L4" in str(app.screen.query_one("#hw-table").get_row_at(0))
        app.screen.query_one("#gpus").focus()
        await pilot.press("space")  # deselect GPU 0: Next refuses
        assert app.screen.query_one("#gpus").selected == []
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, HardwareScreen)


async def test_without_a_gpu_you_plan_for_several_rented_ones_and_recommend_picks_a_strategy(tmp_path: Path):
    app = wizard(demo_draft())  # this machine has no GPU
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        count = app.screen.query_one("#plan_count")
        count.focus()
        await pilot.press("enter", "down", "down", "enter")  # 1 GPU -> 4 GPUs
        await pilot.pause()
        assert app.draft.gpu.count == 4 and app.draft.get("distributed.num_processes") == 4
        await pilot.press("f1")  # the help says what several GPUs change
        assert "DDP: each GPU holds a whole replica" in app.screen.query_one("Markdown").source
        await pilot.press("escape")
        app.draft.set("adapter.type", "full")
        for _ in range(3):
            await pilot.press("ctrl+n")
            await settle(pilot)
        assert isinstance(app.screen, MethodScreen)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.draft.get("distributed.strategy") in ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")
        assert "4 GPUs:" in screen_text(app)  # the strategy's reason line
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "num_processes: 4" in app.draft.yaml()
        assert "Planned for 4 GPUs: run it on that box" in screen_text(app)  # not on this GPU-less machine


async def test_the_memory_bar_follows_every_change_and_turns_red(tmp_path: Path):
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert "— fits" in screen_text(app)
        app.draft.gpu = app.draft.gpu.__class__(app.draft.gpu.gpu.__class__("tiny", 256 * 1024**2, 1.0, None))
        await type_into(pilot, "#batch", "64")
        assert "does NOT fit" in screen_text(app)


async def test_help_explains_the_focused_field_with_this_models_numbers(tmp_path: Path):
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.screen.query_one("#r").focus()
        await pilot.pause()
        assert "LoRA rank: the adapters' width" in screen_text(app)
        await pilot.press("f1")
        text = app.screen.query_one("Markdown").source
        assert "trainable parameters" in text and "r x (in + out)" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MethodScreen)


async def test_data_problems_block_next_until_skip_is_chosen(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{oops\n')
    draft = demo_draft()
    draft.set("data.path", str(bad))
    app = wizard(draft, start=2)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert "1 problem(s)" in screen_text(app) and "line 2: malformed JSON" in screen_text(app)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DataScreen)
        app.screen.query_one("#on_error").value = "skip"
        await pilot.pause()
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, MethodScreen)


async def test_the_recommended_length_comes_from_the_demos_tokenizer_and_counts_lost_answers(tmp_path: Path):
    """Characters / 4 said 64 for the demo, at which a quarter of its rows lose their answers; its own tokenizer
    (bundled, so at hand) says p99 117. The screen counts the rows losing their answer before the user accepts."""
    draft = demo_draft()
    draft.set("data.max_length", 64)
    app = wizard(draft, start=2)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert app.state.data_lengths is not None
        advice = app.state.data_lengths[1]
        p99 = advice.report.token_stats["p99"]
        assert not advice.approximate and p99 == 117
        text = screen_text(app)
        assert "measured with the model's tokenizer" in text and "~" not in text.split("recommended")[1].split("(")[0]
        assert "at 128: 0 of 2,000 rows lose their answer" in text
        assert "now 64: 505 of 2,000 rows lose their answer" in text  # the length set now
        await pilot.click("#use-length")
        assert app.draft.get("data.max_length") >= p99


async def test_without_a_tokenizer_the_length_is_approximate_and_capped_at_the_context(tmp_path: Path):
    """A model with only its config here (no tokenizer to measure with) and a one-document corpus: characters
    / 4, marked approximate, and the recommendation stops at the model's context."""
    model = tmp_path / "model"
    model.mkdir()
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64}
    config |= {"intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 128}
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 256}))
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(" ".join(f"word{i}" for i in range(5000)))
    draft = demo_draft()
    draft.set("model.id", str(model))
    draft.set("data.path", str(corpus))
    draft.set("data.max_length", 1024)
    app = wizard(draft, start=2)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "recommended max_length ~256 (capped at the model's context" in text and "characters / 4" in text
        assert "now 1,024 (beyond the model's 256-token context" in text
        await pilot.click("#use-length")
        assert app.draft.get("data.max_length") == 256


async def test_feedback_data_switches_the_method_to_kto_and_shows_its_labels(tmp_path: Path):
    draft = demo_draft()
    draft.set("data.path", "ftwiz:tiny-demo/data/feedback.jsonl")
    app = wizard(draft, start=2)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "unpaired_preference" in text and "desirable 337" in text and "undesirable 263" in text
        assert app.draft.get("method") == "kto"  # the only method that trains on unpaired feedback


async def test_each_adapter_shows_its_own_knob(tmp_path: Path):
    app = wizard(demo_draft(), start=3)  # LoRA
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        shown = lambda field: app.screen.query_one(f"#{field}").display  # noqa: E731
        assert shown("loraplus") and shown("init") and not shown("virtual_tokens") and not shown("trainable_layers")
        await type_into(pilot, "#loraplus", "16")
        assert app.draft.get("adapter.loraplus_lr_ratio") == 16.0
        await type_into(pilot, "#loraplus", "")  # empty again: plain LoRA
        await pilot.pause()
        assert app.draft.get("adapter.loraplus_lr_ratio") is None
        app.screen.query_one("#init").value = "pissa"
        await pilot.pause()
        assert app.draft.get("adapter.init_lora_weights") == "pissa"
        app.screen.query_one("#adapter").value = "prefix_tuning"
        await pilot.pause()
        assert shown("virtual_tokens") and not shown("loraplus") and not shown("init")
        await type_into(pilot, "#virtual_tokens", "32")
        assert app.draft.config().adapter.num_virtual_tokens == 32
        app.screen.query_one("#adapter").value = "freeze"
        await pilot.pause()
        assert shown("trainable_layers") and not shown("virtual_tokens")
        await type_into(pilot, "#trainable_layers", "3")
        assert app.draft.config().adapter.trainable_layers == 3


# -- issue 17: the Method step's More group, Recommend's learning rate, no GPU said plainly, one Launch -----------
async def test_the_more_group_sets_steps_run_name_and_schedule_into_the_config(tmp_path: Path):
    from textual.widgets import Collapsible

    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        more = app.screen.query_one("#more", Collapsible)
        assert more.collapsed  # out of the way until asked for
        more.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        assert not more.collapsed
        for selector, text in [
            ("#max_steps", "5"),
            ("#logging_steps", "1"),
            ("#eval_steps", "2"),
            ("#save_steps", "3"),
            ("#run_name", "first-try"),
        ]:
            await type_into(pilot, selector, text)
        app.screen.query_one("#lr_scheduler").focus()
        await pilot.press("enter", "down", "enter")  # cosine -> linear
        await pilot.pause()
        train = app.draft.config().train
        assert (train.max_steps, train.logging_steps, train.eval_steps, train.save_steps) == (5, 1, 2, 3)
        assert train.lr_scheduler_type == "linear" and app.draft.config().output.run_name == "first-try"
        app.screen.query_one("#max_steps").focus()
        await pilot.pause()
        assert "Optimizer steps to train; empty: the epochs decide." in screen_text(app)  # the hint; F1: more
        await pilot.press("f1")
        help_text = app.screen.query_one("Markdown").source
        assert "An optimizer step is micro-batch x accumulation" in help_text
        assert "`train.max_steps`: Optimizer steps" in help_text  # the schema's own description
        await pilot.press("escape")
        await type_into(pilot, "#max_steps", "")  # empty again: the epochs decide
        await type_into(pilot, "#save_steps", "")
        await pilot.pause()
        assert app.draft.get("train.max_steps") == -1 and app.draft.get("train.save_steps") is None


async def test_the_more_group_sets_attention_and_memory_savers_and_the_bar_follows(tmp_path: Path):
    """Activation offloading, Liger's kernels and the attention kernel (a Hub kernel among them) are the wizard's
    to set too, and the estimate moves with them: offloading takes the activations off the GPU, eager adds the
    seq x seq scores."""
    from textual.widgets import Collapsible

    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#more", Collapsible).collapsed = False
        await pilot.pause()
        before = app.draft.memory()
        app.screen.query_one("#offload").focus()
        await pilot.press("space")
        await pilot.pause()
        offloaded = app.draft.memory()
        assert app.draft.config().train.activation_offloading is True
        assert offloaded.activations < before.activations and offloaded.offloaded > before.offloaded
        app.screen.query_one("#liger").value = True
        await pilot.pause()
        assert app.draft.config().train.use_liger_kernel is True
        app.screen.query_one("#attention").value = "kernels-community/flash-attn2"
        await pilot.pause()
        assert app.draft.config().model.attn_implementation == "kernels-community/flash-attn2"
        app.screen.query_one("#attention").value = "eager"
        await pilot.pause()
        assert app.draft.memory().activations > offloaded.activations  # the stored scores
        app.screen.query_one("#attention").focus()
        await pilot.press("f1")
        help_text = app.screen.query_one("Markdown").source
        assert "pip install kernels" in help_text and "`model.attn_implementation`" in help_text


async def test_bad_input_in_a_knob_shows_its_error_and_next_waits(tmp_path: Path):
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(100, 50)) as pilot:
        await settle(pilot)
        app.screen.query_one("#more").collapsed = False
        await type_into(pilot, "#max_steps", "abc")  # an integer field takes no letters
        assert app.screen.query_one("#max_steps").value == "" and app.draft.get("train.max_steps") == -1
        await type_into(pilot, "#max_steps", "-5")
        await type_into(pilot, "#run_name", "-run")
        await type_into(pilot, "#batch", "0")
        text = screen_text(app)
        assert "max steps: expected more than 0, got -5" in text
        assert "run name: letters, digits" in text and "micro-batch: expected more than 0" in text
        assert app.screen.query_one("#max_steps").has_class("-invalid")
        assert app.draft.get("train.max_steps") == -1 and app.draft.get("output.run_name") is None  # kept
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, MethodScreen)  # refused, with the first error
        for selector, good in [("#max_steps", "7"), ("#run_name", "my-run"), ("#batch", "2")]:
            await type_into(pilot, selector, good)
        assert "expected" not in screen_text(app) and app.draft.get("train.max_steps") == 7
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)


async def test_recommend_sets_the_learning_rate_and_says_why_with_the_numbers(tmp_path: Path):
    app = wizard(demo_draft(), start=3)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_into(pilot, "#lr", "0.01")
        assert app.draft.get("train.learning_rate") == 0.01
        await pilot.press("ctrl+r")
        await settle(pilot)
        adapter = app.draft.get("adapter.type")
        rate = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}[adapter]
        assert app.draft.get("train.learning_rate") == rate and app.screen.query_one("#lr").value == str(rate)
        reasons = str(app.screen.query_one("#reasons").content)
        ten_times = "LoRA would take ~10× that (2e-4)" if adapter == "full" else "~10× the full fine-tuning rate (2e-5"
        assert f"learning rate {rate:.0e}".replace("e-0", "e-") in reasons and ten_times in reasons


async def test_without_a_gpu_method_review_and_launch_say_so_and_never_about_0_s(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = wizard(demo_draft(), start=3)  # NO_GPU: the plan is for the Hardware step's card (A100-80GB)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for screen in (MethodScreen, ReviewScreen, LaunchScreen):
            assert isinstance(app.screen, screen)
            text = " ".join(screen_text(app).split())
            assert "No GPU on this machine (no NVIDIA GPU: NVML unavailable)" in text
            assert "The plan is for A100-80GB, the card chosen on step 1" in text and "trains on the CPU" in text
            assert "about 0 s" not in text
            if screen is not LaunchScreen:
                await pilot.press("ctrl+n")
                await settle(pilot)
    app = wizard(demo_draft(), hardware=ONE_GPU, start=3)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "No GPU" not in screen_text(app)


@pytest.fixture
def starts(monkeypatch) -> list[str]:
    """The Launch step's launches, recorded and refused (nothing spawns): the model each was for."""
    from ftwiz.errors import BadInput

    calls: list[str] = []

    def start(config, **_):
        calls.append(config.model.id)
        raise BadInput("not launched: a test")

    monkeypatch.setattr(launch, "start", start)
    return calls


async def test_a_hub_model_without_a_gpu_asks_before_training_on_the_cpu(tmp_path: Path, monkeypatch, starts):
    from ftwiz.tui.screens.launch import CpuConfirm

    monkeypatch.chdir(tmp_path)
    draft = demo_draft()
    draft.set("model.id", "Qwen/Qwen2.5-0.5B-Instruct")
    app = wizard(draft, start=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # Launch
        assert isinstance(app.screen, CpuConfirm) and "Train on the CPU?" in screen_text(app)
        await pilot.press("enter")  # Cancel has the focus
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen) and starts == [] and "Not launched" in screen_text(app)
        await pilot.press("enter")
        await pilot.press("escape")  # Esc is Cancel too
        await settle(pilot)
        assert starts == []
        await pilot.press("enter")
        app.screen.query_one("#cpu-train").focus()
        await pilot.press("enter")  # Train on the CPU
        await settle(pilot)
        assert starts == ["Qwen/Qwen2.5-0.5B-Instruct"] and isinstance(app.screen, LaunchScreen)


async def test_the_demo_launches_without_asking_and_there_is_one_launch_button(tmp_path: Path, monkeypatch, starts):
    from textual.widgets import Button

    monkeypatch.chdir(tmp_path)
    app = wizard(demo_draft(), start=5)  # no GPU, but the bundled demo is made for the CPU
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert [str(b.label) for b in app.screen.query(Button) if "Launch" in str(b.label)] == ["Launch"]
        await pilot.press("enter")
        await settle(pilot)
        assert starts == [MODEL] and isinstance(app.screen, LaunchScreen)
