"""The wizard's state without the wizard: the Draft is the RunConfig the headless path runs."""

from __future__ import annotations

import pytest

from ftwiz.config.presets import load_config
from ftwiz.errors import ConfigError
from ftwiz.hardware.gpus import parse_gpu
from ftwiz.models.inspect import inspect_reference
from ftwiz.plan.draft import Draft, about, gib
from ftwiz.tui.help import SHORT, long_help

LLAMA8B = "meta-llama/Llama-3.1-8B-Instruct"  # in the offline catalog


@pytest.fixture(scope="module")
def llama8b() -> Draft:
    draft = Draft.from_config(load_config("llama3-8b-qlora").config, "llama3-8b-qlora")
    draft.inspection = inspect_reference(LLAMA8B, isolate=True)
    draft.gpu = parse_gpu("L4")
    return draft


def test_an_empty_draft_says_what_is_missing():
    draft = Draft()
    with pytest.raises(ConfigError, match=r"model\.id"):
        draft.config()
    draft.set("model.id", "org/model")
    draft.set("data.path", "chats.jsonl")
    assert draft.config().adapter.type == "lora"  # RunConfig's defaults


def test_choosing_qlora_sets_4_bit_and_back():
    draft = Draft()
    draft.set("adapter.type", "qlora")
    assert draft.get("quant.bits") == 4
    draft.set("adapter.type", "lora")
    assert draft.get("quant.bits") == "none"


def test_the_draft_of_a_preset_round_trips_to_the_same_yaml():
    loaded = load_config("phi2-qlora").config
    assert Draft.from_config(loaded).config() == loaded


def test_memory_follows_the_knobs_and_recommend_fits_the_card(llama8b: Draft):
    draft = Draft.from_config(llama8b.config())
    draft.inspection, draft.gpu = llama8b.inspection, parse_gpu("L4")
    base = draft.memory().total
    draft.set("train.per_device_train_batch_size", 16)
    assert draft.memory().total > base
    assert draft.fits() is False
    plan = draft.recommend()
    draft.apply(plan)
    assert draft.fits() is True and draft.get("adapter.r") == llama8b.get("adapter.r")  # the rank stays the user's
    assert draft.memory().total == plan.best.memory.total
    assert draft.estimate() == (None, None)  # neither max_steps nor the data's size known yet: no time to give
    draft.tokens = 10_000_000  # what the Data step learns
    seconds, cost = draft.estimate()
    speed = draft.speed()
    assert speed is not None and seconds == pytest.approx(
        10_000_000 * draft.get("train.num_train_epochs") / speed.tokens_per_second
    )
    assert cost == pytest.approx(seconds / 3600 * draft.gpu.gpu.price_mid)  # one L4 at its typical price


def test_on_several_gpus_recommend_sets_the_strategy_and_the_estimate_agrees(llama8b: Draft):
    draft = Draft.from_config(llama8b.config())
    draft.inspection, draft.gpu = llama8b.inspection, parse_gpu("4xT4")
    draft.set("adapter.type", "full")
    draft.set("distributed.num_processes", 4)  # what the Hardware step sets for four GPUs
    plan = draft.recommend()
    draft.apply(plan)
    # A 16-bit 8B replica with LoRA does not fit a T4 (15 GiB): sharding it beats QLoRA's 2x slower replicas.
    assert draft.get("distributed.strategy") == plan.best.setup.strategy != "ddp"
    assert draft.get("distributed.cpu_offload") == plan.best.setup.cpu_offload
    assert draft.memory().total == plan.best.memory.total  # the wizard's bar counts the same sharding
    assert draft.speed().comm_bytes == plan.best.speed.comm_bytes > 0
    text = long_help("gpus", draft)  # F1 on the Hardware step: this run's memory under each strategy
    assert "This run on 4 GPUs, per GPU: DDP:" in text and "FSDP / ZeRO-3:" in text


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_for_paired_objectives_the_recommenders_memory_is_the_estimates(llama8b: Draft, method: str):
    """DPO and ORPO run chosen and rejected together (ORPO also builds the whole logits): the choice Recommend
    makes is planned with them, so the wizard's bar shows the same peak after it is applied."""
    draft = Draft.from_config(llama8b.config())
    draft.inspection, draft.gpu = llama8b.inspection, parse_gpu("A100-80GB")
    draft.set("method", method)
    plan = draft.recommend()
    draft.apply(plan)
    assert plan.best.setup.sequences_per_row == 2 and plan.best.setup.loss == ("full" if method == "orpo" else "fused")
    assert draft.memory().total == plan.best.memory.total and draft.fits()


def test_headless_command_and_sizes():
    assert Draft().headless_command("my run.yaml") == "ftwiz train 'my run.yaml' --headless"
    assert gib(3 * 2**30) == "3.0 GiB" and gib(5 * 2**20) == "5 MiB" and gib(None) == "–"


def test_every_field_has_a_hint_and_the_long_help_uses_this_models_numbers(llama8b: Draft):
    assert all(text.strip() for text in SHORT.values())
    assert "trainable parameters" in long_help("r", llama8b) and "8,030,261,248" in long_help("adapter", llama8b)
    assert "NF4" in long_help("nf4", llama8b) and "left" in long_help("padding_side", llama8b)
    assert long_help("accum", llama8b) == SHORT["accum"]  # no long text: the hint


def test_run_names_say_which_model_and_what_it_trains():
    from ftwiz.commands.launch import default_run_name

    draft = Draft.from_config(load_config("phi2-qlora").config, "phi2-qlora")
    assert default_run_name(draft.config(), draft.preset) == "phi2-qlora"
    draft.set("adapter.type", "lora")  # Recommend switched the method: no longer the preset's run
    assert default_run_name(draft.config(), draft.preset) == "phi-2-lora"

    demo = Draft()
    demo.set("model.id", "ftwiz:tiny-demo/model")  # not "…-model": the generic folder names nothing
    demo.set("data.path", "ftwiz:tiny-demo/data/train.jsonl")
    assert default_run_name(demo.config(), None) == "tiny-demo-lora"
    demo.set("model.id", "/data/checkpoints/my-llama/final")
    assert default_run_name(demo.config(), None) == "my-llama-lora"
    demo.set("output.run_name", "mine")  # the user's own name always wins
    demo.set("adapter.type", "ia3")
    assert default_run_name(demo.config(), None) == "mine"


def test_runs_listing_gives_each_failure_whole(tmp_path):
    import io

    from rich.console import Console

    from ftwiz.views import print_runs

    reason = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.6 GiB total capacity; 21.9 GiB allocated)"
    rows = [
        {
            "id": "20260101-000000-phi-2-lora",
            "state": "failed",
            "step": 3,
            "max_steps": 100,
            "loss": 1.2,
            "duration_seconds": 40,
            "error": reason,
        }
    ]
    out = io.StringIO()
    print_runs(tmp_path, rows, Console(file=out, width=80))
    text = out.getvalue()
    assert " ".join(text.split()).count(reason) == 1  # every word there, none cut (wrapped at spaces)
    assert all(word in text.split() for word in reason.split())


def test_a_duration_is_never_about_0_s():
    assert about(0.3) == "under 1 s" and about(0) == "time unknown"
    assert (about(45), about(600), about(9000)) == ("about 45 s", "about 10 min", "about 2.5 h")


def test_without_a_gpu_the_notice_names_the_planned_card():
    from ftwiz.hardware.probe import Hardware
    from ftwiz.tui.help import no_gpu_notice

    hardware = Hardware((), None, None, None, None, None, ".", no_gpu_reason="no NVIDIA GPU: NVML unavailable")
    draft = Draft()
    assert "Choose the card to plan for on step 1" in no_gpu_notice(hardware, draft)
    draft.gpu = parse_gpu("2xL4")
    notice = no_gpu_notice(hardware, draft)
    assert notice.startswith("No GPU on this machine (no NVIDIA GPU: NVML unavailable)") and "for 2xL4," in notice
