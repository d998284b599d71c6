"""The recommender and `ftwiz plan`: fixed knobs stay fixed, the fastest fitting config wins, reasons carry
numbers, nothing-fits says what would, and catalog models plan without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from ftwiz.hardware.gpus import parse_gpu
from ftwiz.models.resolve import catalog_file
from ftwiz.models.spec import spec_from_config
from ftwiz.plan.choices import Knobs
from ftwiz.plan.memory import TrainSetup
from ftwiz.plan.recommend import recommend, which_gpu
from ftwiz.plan.speed import estimate_speed, flops_per_token

LLAMA8B = "meta-llama/Llama-3.1-8B-Instruct"


def catalog(model_id):
    return (
        spec_from_config(json.loads(catalog_file(model_id).read_text())),
        json.loads(catalog_file(model_id).with_suffix(".inspect.json").read_text()),
    )


def test_flops_per_token_follow_the_6n_4n_rule():
    """6N when every weight trains, 4N with a frozen base; attention (no weights) costs its forward plus a
    backward of twice that either way; checkpointing recomputes the decoder layers' forward, not the head."""
    spec, _ = catalog(LLAMA8B)
    n = spec.params_active - spec.params_embedding  # untied: the head is in N, the embedding lookup is not
    head = spec.vocab_size * spec.hidden_size
    forward = 4 * spec.layers * spec.heads * spec.head_dim * 2048 * 0.5  # QK^T and AV, causal
    assert flops_per_token(spec, TrainSetup(adapter="full", gradient_checkpointing=False)) == 6 * n + 3 * forward
    assert flops_per_token(spec, TrainSetup(adapter="lora", gradient_checkpointing=False)) == 4 * n + 3 * forward
    recompute = 2 * (n - head) + forward
    assert flops_per_token(spec, TrainSetup(adapter="lora")) == 4 * n + 3 * forward + recompute


def test_a_tied_head_still_costs_its_matmul():
    """Tied embeddings are stored once, but the LM head's matmul runs for every token (Llama-3.2-3B ties them)."""
    spec, _ = catalog("meta-llama/Llama-3.2-3B-Instruct")
    assert spec.tied_embeddings
    untied = replace(spec, tied_embeddings=False, params_total=spec.params_total + spec.vocab_size * spec.hidden_size)
    setup = TrainSetup(adapter="lora", gradient_checkpointing=False)
    assert flops_per_token(spec, setup) == flops_per_token(untied, setup)


def test_small_micro_batches_wait_for_kernel_launches_and_4bit_bases_for_dequantization():
    """A small model on a short micro-batch is bound by the CPU's launches (tokens/s then grows with the
    sequence); a 4-bit base adds its dequantization per micro-batch, at the card's memory bandwidth."""
    from ftwiz.plan import speed

    spec, _ = catalog("meta-llama/Llama-3.2-1B-Instruct")
    a100 = parse_gpu("A100-80GB").gpu
    short = estimate_speed(spec, TrainSetup(adapter="lora", seq_len=256), a100.tflops)
    assert short.step_seconds == pytest.approx(spec.layers * 4 * speed.LAUNCH_SECONDS)
    longer = estimate_speed(spec, TrainSetup(adapter="lora", seq_len=512), a100.tflops)
    assert longer.tokens_per_second == pytest.approx(2 * short.tokens_per_second)  # the same floor, twice the tokens
    q = TrainSetup(adapter="qlora", seq_len=256)
    slow = estimate_speed(spec, q, a100.tflops, bandwidth_gbs=a100.bandwidth_gbs)
    fast = estimate_speed(spec, q, a100.tflops, bandwidth_gbs=2 * a100.bandwidth_gbs)
    assert slow.step_seconds - short.step_seconds == pytest.approx(2 * (fast.step_seconds - short.step_seconds))


def test_activation_offloading_costs_its_pcie_copies_beyond_what_compute_hides():
    from ftwiz.plan import speed

    spec, _ = catalog(LLAMA8B)
    setup = TrainSetup(adapter="lora", batch_size=4, activation_offloading=True)
    a100 = parse_gpu("A100-80GB").gpu
    plain = estimate_speed(spec, setup, a100.tflops)
    light = estimate_speed(spec, setup, a100.tflops, offloaded_bytes=1e9)  # 0.1 s of copies, well hidden
    assert light.step_seconds == pytest.approx(plain.step_seconds + speed.EXPOSED_COMM * 2 / speed.PCIE_GBS)
    heavy = estimate_speed(spec, setup, a100.tflops, offloaded_bytes=200e9)  # 20 s of copies: they set the pace
    assert heavy.step_seconds == pytest.approx(2 * 200 / speed.PCIE_GBS * (1 + speed.EXPOSED_COMM), rel=0.1)


def test_the_learning_rate_follows_the_adapter_and_says_the_numbers():
    """LoRA/QLoRA at ~10x the full fine-tuning rate (TRL's trainer default), in the plan, its reasons, its JSON
    and the keys Recommend writes; preference objectives start ten times lower."""
    from ftwiz.plan.estimate import config_changes

    spec, ins = catalog(LLAMA8B)
    qlora = recommend(spec, ins, parse_gpu("L4"), Knobs(adapter="qlora"))
    assert qlora.best.setup.adapter == "qlora" and qlora.learning_rate == 2e-4
    assert any(
        r.startswith("learning rate 2e-4:") and "~10× the full fine-tuning rate (2e-5" in r for r in qlora.reasons
    )
    assert qlora.to_dict()["learning_rate"] == 2e-4 and config_changes(qlora)["train.learning_rate"] == 2e-4
    full = recommend(spec, ins, parse_gpu("H100-80GB"), Knobs(adapter="full"))
    assert full.learning_rate == 2e-5 and any("LoRA would take ~10× that (2e-4)" in r for r in full.reasons)
    dpo = recommend(spec, ins, parse_gpu("A10G"), Knobs(), method="dpo")
    assert dpo.learning_rate == 1e-5 and any("(1e-6, TRL's DPO default)" in r for r in dpo.reasons)
    nothing = recommend(spec, ins, parse_gpu("T4"), Knobs(adapter="full"))  # nothing fits: no rate to propose
    assert (
        not nothing.best.fits and nothing.learning_rate is None and "train.learning_rate" not in config_changes(nothing)
    )


def test_speed_scales_with_the_card_and_qlora_is_slower():
    spec, _ = catalog(LLAMA8B)
    lora = TrainSetup(adapter="lora", batch_size=4)
    a100 = estimate_speed(spec, lora, parse_gpu("A100-80GB").gpu.tflops)
    h100 = estimate_speed(spec, lora, parse_gpu("H100-80GB").gpu.tflops)
    assert h100.tokens_per_second == pytest.approx(a100.tokens_per_second * 989 / 312)
    qlora = estimate_speed(spec, TrainSetup(adapter="qlora", batch_size=4), parse_gpu("A100-80GB").gpu.tflops)
    assert qlora.tokens_per_second < a100.tokens_per_second


def test_recommendation_fits_with_margin_and_explains_itself():
    spec, ins = catalog(LLAMA8B)
    plan = recommend(spec, ins, parse_gpu("T4"), Knobs(), tokens=10_000_000)
    data = plan.to_dict()
    assert data["fits"] and data["peak_bytes"] <= 0.9 * parse_gpu("T4").gpu.memory_bytes
    assert data["config"]["adapter"] == "qlora"  # a 16-bit 8B base (15 GiB) does not fit 15 GiB
    assert any("LoRA on a 16-bit base would need" in r and "does not fit" in r for r in data["reasons"])
    assert any("tokens per optimizer step" in r for r in data["reasons"])
    assert data["total_seconds"] > 0 and data["cost"] > 0
    assert data["config"]["batch_size"] * data["config"]["grad_accum"] == 16  # the effective batch is kept


def test_lora_fits_an_8b_model_on_a_24gb_card_now_the_logits_are_fused():
    """TRL 1.16 never builds the 2 x 2048 x 128k logits (4.9 GiB under the old model): LoRA on a 16-bit Llama-3.1-8B
    fits an A10G, and the plan says which stack it assumed."""
    spec, ins = catalog(LLAMA8B)
    plan = recommend(spec, ins, parse_gpu("A10G"), Knobs())
    assert plan.best.fits and plan.best.setup.adapter == "lora"
    assert plan.best.memory.logits < 1024**3
    full = recommend(spec, ins, parse_gpu("A10G"), Knobs(loss="full"))
    assert full.best.memory.logits > plan.best.memory.logits


def test_fixed_knobs_are_kept():
    spec, ins = catalog(LLAMA8B)
    knobs = Knobs(
        adapter="lora",
        rank=64,
        batch_size=2,
        seq_len=1024,
        gradient_checkpointing=True,
        optimizer="adamw_8bit",
        grad_accum=3,
        targets="attention_qv",
    )
    cfg = recommend(spec, ins, parse_gpu("H100-80GB"), knobs).to_dict()["config"]
    assert cfg == {
        "adapter": "lora",
        "rank": 64,
        "batch_size": 2,
        "seq_len": 1024,
        "grad_accum": 3,
        "gradient_checkpointing": True,
        "optimizer": "adamw_8bit",
        "targets": "attention_qv",
        "strategy": "single",
        "cpu_offload": False,
    }


def test_nothing_fits_says_what_would():
    spec, ins = catalog("meta-llama/Llama-3.1-70B-Instruct")
    plan = recommend(spec, ins, parse_gpu("RTX-4090"), Knobs(adapter="lora"))
    assert not plan.best.fits
    text = " ".join(plan.reasons)
    assert "nothing fits on RTX-4090" in text
    assert "a bigger card would" in text and "QLoRA would need" in text


def test_which_gpu_ranks_fitting_cards_by_cost():
    spec, ins = catalog(LLAMA8B)
    options = which_gpu(spec, ins, Knobs(), tokens=50_000_000)
    fitting = [o for o in options if o["fits"]]
    costs = [o["cost"] for o in fitting]
    assert costs == sorted(costs) and len(fitting) >= 5
    assert all(o["peak_bytes"] > 0 for o in options)


def plan_cli(*args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from ftwiz.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr); raise SystemExit(rc)"
    )
    return subprocess.run([sys.executable, "-c", code, "plan", *args], capture_output=True, text=True)


def test_plan_json_follows_the_contract_without_importing_torch():
    proc = plan_cli("--model", LLAMA8B, "--gpu", "A100-80GB", "--tokens", "1000000", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["gpu"]) == {"name", "memory_bytes", "count"}
    assert set(data["config"]) >= {  # the contract's keys; strategy and cpu_offload are additions
        "adapter",
        "rank",
        "batch_size",
        "seq_len",
        "grad_accum",
        "gradient_checkpointing",
        "optimizer",
        "targets",
    }
    assert set(data["breakdown"]) == {
        "weights",
        "trainable",
        "gradients",
        "optimizer",
        "activations",
        "logits",
        "overhead",
        "optimizer_step",  # an addition: the optimizer step's temporaries beyond the backward's peak
    }
    assert data["peak_bytes"] == sum(data["breakdown"].values())
    for key in ("fits", "step_seconds", "tokens_per_second", "total_seconds", "cost", "reasons", "alternatives"):
        assert key in data
    which = json.loads(plan_cli("--model", LLAMA8B, "--which-gpu", "--json").stdout)
    assert {"gpu", "fits", "peak_bytes", "total_seconds", "cost"} <= set(which["options"][0])


def test_plan_counts_the_datas_tokens_and_sizes_the_sequence_to_its_rows(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "q" * 400}, {"role": "assistant", "content": "a" * 400}]}] * 50
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = plan_cli("--model", LLAMA8B, "--gpu", "A100-80GB", "--data", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["config"]["seq_len"] == 256  # 800 characters a row ~ 200 tokens, rounded up to 64s
    assert "10,050 tokens in 50 rows" in " ".join(plan["reasons"])  # the rendered text, not the JSON around it
    assert "HEAVY []" in proc.stderr
    fixed = json.loads(
        plan_cli("--model", LLAMA8B, "--gpu", "A100-80GB", "--data", str(data), "--seq-len", "1024", "--json").stdout
    )
    assert fixed["config"]["seq_len"] == 1024


def test_plan_errors_exit_2():
    from ftwiz.hardware.probe import probe_hardware

    if not probe_hardware().has_gpu:  # without --gpu, a GPU-less machine has nothing to plan for
        no_gpu = plan_cli("--model", LLAMA8B)
        assert no_gpu.returncode == 2 and "--gpu A100-80GB" in no_gpu.stderr
    assert plan_cli("--model", LLAMA8B, "--gpu", "A100-81GB").returncode == 2
    assert plan_cli("--model", LLAMA8B, "--gpu", "T4", "--optimizer", "adam").returncode == 2
    table = plan_cli("--model", LLAMA8B, "--gpu", "T4")
    assert table.returncode == 0 and "why:" in table.stdout


def test_safetensors_cross_check(monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    from ftwiz.commands.plan import safetensors_check

    monkeypatch.setattr("ftwiz.models.resolve.hub_reachable", lambda: True)
    monkeypatch.setattr(
        huggingface_hub,
        "get_safetensors_metadata",
        lambda ref, timeout: SimpleNamespace(parameter_count={"BF16": 9_000_000_000}),
    )
    assert "safetensors hold 9.00B parameters, the config gives 8.03B" in safetensors_check(
        LLAMA8B, "catalog", 8_030_261_248
    )
    assert safetensors_check(LLAMA8B, "catalog", 9_010_000_000) is None  # within 1%
    assert safetensors_check("./local", "local", 1) is None
    monkeypatch.setattr("ftwiz.models.resolve.hub_reachable", lambda: False)
    assert safetensors_check(LLAMA8B, "catalog", 1) is None


def test_memory_bar_marks_what_does_not_fit():
    from ftwiz.views import memory_bar

    fits = memory_bar({"weights": 40, "logits": 10}, budget=100, width=20)
    assert fits.plain == "█" * 10 + "░" * 10
    over = memory_bar({"weights": 150, "logits": 50}, budget=100, width=20)
    assert over.plain == "█" * 10 + "▒" * 10  # past the budget: its own pattern, not just a shade
    assert [str(s.style) for s in over.spans if s.start >= 10] == ["bold red"]
    assert all("red" not in str(s.style) for s in over.spans if s.end <= 10)


def test_each_memory_term_has_its_own_colour_and_none_is_red():
    from ftwiz.views import TERM_STYLE

    assert len(set(TERM_STYLE.values())) == len(TERM_STYLE)
    assert not any("red" in style for style in TERM_STYLE.values())


def test_several_gpus_use_ddp_when_a_replica_fits_and_fsdp_when_none_does():
    big = plan_cli(
        "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "8xH100-80GB", "--adapter", "full", "--json"
    )
    data = json.loads(big.stdout)
    assert data["strategy"] == "fsdp" and data["fits"] and data["config"]["strategy"] == "fsdp"
    assert any(r.startswith("DDP (a whole replica per GPU):") and "does not fit" in r for r in data["reasons"])
    # ZeRO-3 shards the same states, so it is as fast: torch's FSDP wins the tie (no extra package).
    assert any(r.startswith("DeepSpeed ZeRO-3") and "one more package" in r for r in data["reasons"])
    small = json.loads(plan_cli("--model", LLAMA8B, "--gpu", "8xH100-80GB", "--json").stdout)
    assert small["strategy"] == "ddp"
    assert any(r.startswith("FSDP") and "fits too" in r and "slower" in r for r in small["reasons"])
    one = json.loads(plan_cli("--model", LLAMA8B, "--gpu", "H100-80GB", "--json").stdout)
    assert one["strategy"] == "single" and one["commands"][0].startswith("ftwiz train CONFIG.yaml --headless")


def test_strategy_knobs_that_cannot_apply_exit_2():
    ddp_offload = plan_cli("--model", LLAMA8B, "--gpu", "2xA100-80GB", "--strategy", "ddp", "--cpu-offload")
    assert ddp_offload.returncode == 2 and "only sharded states can live in host memory" in ddp_offload.stderr
    one = plan_cli("--model", LLAMA8B, "--gpu", "A100-80GB", "--strategy", "fsdp")
    assert one.returncode == 2 and "one GPU has nothing to share the work with" in one.stderr


def test_when_nothing_fits_in_gpu_memory_zero3_offload_wins_by_its_cpu_adam():
    """A full 8B fine-tune on 2x RTX-4090: no strategy fits in 2x24 GB, so states go to host memory; the optimizer
    step then runs on the CPU, where DeepSpeed's CPU-Adam is several times faster than torch's AdamW (FSDP)."""
    spec, ins = catalog(LLAMA8B)
    plan = recommend(spec, ins, parse_gpu("2xRTX-4090"), Knobs(adapter="full"))
    best = plan.best
    assert best.fits and best.setup.strategy == "deepspeed-zero3" and best.setup.cpu_offload
    assert best.memory.offloaded > 25 * 2**30  # per process, in host memory
    text = " ".join(plan.reasons)
    assert "nothing fits in GPU memory alone" in text and "DeepSpeed's CPU-Adam" in text
    fsdp = recommend(spec, ins, parse_gpu("2xRTX-4090"), Knobs(adapter="full", strategy="fsdp")).best
    assert fsdp.setup.cpu_offload and fsdp.speed.tokens_per_second < best.speed.tokens_per_second / 1.5


def test_communication_slows_sharding_over_pcie_more_than_over_nvlink():
    spec, ins = catalog(LLAMA8B)
    knobs = Knobs(adapter="full", strategy="fsdp", batch_size=1, gradient_checkpointing=True)
    nvlink = recommend(spec, ins, parse_gpu("8xH100-80GB"), knobs).best.speed
    assert nvlink.comm_bytes > 0 and nvlink.comm_seconds < nvlink.step_seconds  # hidden behind compute
    pcie = recommend(spec, ins, parse_gpu("8xL40S"), knobs).best.speed
    assert pcie.comm_seconds > pcie.step_seconds / 2  # 20 GB/s: the weights' all-gathers dominate


def test_several_machines_get_one_command_each_and_count_every_gpu():
    proc = plan_cli(
        "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "8xH100-80GB", "--nodes", "2", "--adapter", "qlora",
        "--main-process-ip", "10.1.2.3", "--config", "llama.yaml", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["nodes"] == 2 and data["gpu"]["count"] == 8
    first, _ = data["commands"]
    assert first.startswith("ftwiz train llama.yaml --headless --detach --set adapter.type=qlora")
    for rank, command in enumerate(data["commands"]):
        assert "--set distributed.num_processes=16" in command and "--set distributed.num_machines=2" in command
        assert "--set distributed.main_process_ip=10.1.2.3" in command
        assert command.endswith(f"--set distributed.machine_rank={rank}")
    cfg = data["config"]
    assert f"--set train.per_device_train_batch_size={cfg['batch_size']}" in first
    assert any(f"x 16 GPUs = {cfg['batch_size'] * cfg['grad_accum'] * 16} sequences" in r for r in data["reasons"])
    text = subprocess.run(
        [sys.executable, "-m", "ftwiz", "plan", "--model", LLAMA8B, "--gpu", "8xH100-80GB", "--nodes", "2"],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "2 machines x 8 x H100-80GB" in text and "on each machine" in text and "machine_rank=1" in text


def test_the_commands_a_plan_prints_load_as_a_valid_config(tmp_path):
    """Every `--set` in a plan's command is a real config key with a valid value."""
    import shlex

    from ftwiz.config.presets import load_config

    data = json.loads(plan_cli("--model", LLAMA8B, "--gpu", "4xA100-80GB", "--adapter", "full", "--json").stdout)
    words = shlex.split(data["commands"][0])
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    path = tmp_path / "c.yaml"
    path.write_text(f"model: {{id: {LLAMA8B}}}\ndata: {{path: d.jsonl}}\n")
    config = load_config(str(path), overrides).config
    assert config.adapter.type == "full" and config.distributed.num_processes == 4
    assert config.distributed.strategy == data["strategy"]
    assert config.train.per_device_train_batch_size == data["config"]["batch_size"]


def test_when_nothing_fits_the_recommender_tries_activation_offloading_then_liger_and_says_the_cost():
    """Checkpointing fixed off at 8 x 4096 tokens: Llama-3.1-8B's activations (~300 GiB) fit no card, but TRL's
    activation offloading keeps two of 32 layers on the GPU; the plan turns it on, says why and what it costs,
    and writes the key. A knob the user fixed off stays off."""
    from ftwiz.plan.estimate import config_changes

    spec, ins = catalog(LLAMA8B)
    knobs = Knobs(adapter="lora", gradient_checkpointing=False, batch_size=8, seq_len=4096)
    plan = recommend(spec, ins, parse_gpu("H100-80GB"), knobs)
    assert plan.best.fits and plan.best.setup.activation_offloading and not plan.best.setup.liger
    assert plan.best.memory.offloaded > 100 * 1024**3  # host memory holds the rest
    assert any("activation_offloading on" in r and "nothing to install" in r for r in plan.reasons)
    assert any(r.startswith("nothing fits as is") for r in plan.reasons)
    assert config_changes(plan)["train.activation_offloading"] is True
    refused = recommend(spec, ins, parse_gpu("H100-80GB"), Knobs(**{**knobs.__dict__, "activation_offloading": False}))
    assert not refused.best.setup.activation_offloading


def test_plan_cli_says_which_stack_and_loss_path_it_assumed(capsys):
    from ftwiz.cli import main

    assert main(["plan", "--model", LLAMA8B, "--gpu", "A10G", "--json"]) == 0
    fused = json.loads(capsys.readouterr().out)
    assert fused["stack"]["loss"] == "fused" and fused["stack"]["versions"]["trl"]
    assert fused["config"]["adapter"] == "lora"
    assert main(["plan", "--model", LLAMA8B, "--gpu", "A10G", "--loss", "full", "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["stack"]["loss"] == "full" and full["breakdown"]["logits"] > 4 * 1024**3
    assert full["config"]["adapter"] == "qlora"  # with 4.9 GiB of logits, LoRA on 16-bit weights no longer fits
