"""The memory estimator, term by term against hand-computed numbers, and the properties a user relies on."""

from __future__ import annotations

import json

import pytest

from conftest import TINY_LLAMA_CONFIG
from ftwiz.models.resolve import catalog_file
from ftwiz.models.spec import spec_from_config
from ftwiz.plan.estimate import train_setup
from ftwiz.plan.memory import CUDA_CONTEXT, NF4_BYTES, TrainSetup, estimate_memory

# A small Llama: h=64, I=128, 2 layers, 4 heads x 16, 2 KV heads, vocab 128, untied head.
CONFIG = {**TINY_LLAMA_CONFIG, "tie_word_embeddings": False}
GROUPS = [
    {"name": "q_proj", "count": 2, "in_features": 64, "out_features": 64, "params": 8192, "kind": "attention_q"},
    {"name": "k_proj", "count": 2, "in_features": 64, "out_features": 32, "params": 4096, "kind": "attention_k"},
    {"name": "v_proj", "count": 2, "in_features": 64, "out_features": 32, "params": 4096, "kind": "attention_v"},
    {"name": "o_proj", "count": 2, "in_features": 64, "out_features": 64, "params": 8192, "kind": "attention_o"},
    {"name": "gate_proj", "count": 2, "in_features": 64, "out_features": 128, "params": 16384, "kind": "mlp_gate"},
    {"name": "up_proj", "count": 2, "in_features": 64, "out_features": 128, "params": 16384, "kind": "mlp_up"},
    {"name": "down_proj", "count": 2, "in_features": 128, "out_features": 64, "params": 16384, "kind": "mlp_down"},
    {"name": "lm_head", "count": 1, "in_features": 64, "out_features": 128, "params": 8192, "kind": "lm_head"},
]
LINEAR = 8192 + 4096 + 4096 + 8192 + 16384 * 3  # 73,728 quantizable weights
TOTAL = LINEAR + 8192 + 8192 + 5 * 64  # + embeddings + lm_head + 5 norms
INSPECTION = {
    "params_total": TOTAL,
    "linear_groups": GROUPS,
    "targets": {
        "all_linear": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
        "attention_qv": ["q_proj", "v_proj"],
    },
}
SPEC = spec_from_config(CONFIG)


def est(**kw):
    return estimate_memory(SPEC, INSPECTION, TrainSetup(**kw))


def test_spec_matches_the_hand_count():
    assert SPEC.params_total == TOTAL


def test_weights_by_precision_and_quantization():
    assert est(adapter="lora", dtype="bfloat16").weights == TOTAL * 2
    assert est(adapter="lora", dtype="float32").weights == TOTAL * 4
    rest = TOTAL - LINEAR  # embeddings, lm_head, norms: upcast to fp32 by prepare_model_for_kbit_training
    assert est(adapter="qlora").weights == int(LINEAR * (0.5 + 1 / 64 + 4 / 16384)) + rest * 4
    assert est(adapter="qlora", double_quant=False).weights == int(LINEAR * 0.5625) + rest * 4
    assert est(adapter="lora", quant_bits=8).weights == LINEAR + rest * 4
    assert NF4_BYTES[True] < NF4_BYTES[False]


def test_lora_terms_at_rank_8():
    # q: 8x(64+64)=1024, v: 8x(64+32)=768, two layers -> 3584 trainable parameters.
    m = est(adapter="lora", rank=8, targets=("q_proj", "v_proj"), optimizer="adamw_torch")
    assert m.trainable_params == 3584
    assert m.trainable == 3584 * 4 and m.gradients == 3584 * 4  # fp32 adapters
    assert m.optimizer == 3584 * 8  # two fp32 moments
    q = est(adapter="qlora", rank=8, targets=("q_proj", "v_proj"), optimizer="paged_adamw_8bit")
    assert q.trainable == 3584 * 2  # TRL casts QLoRA adapters to bf16
    assert q.optimizer == 3584 * 2  # two 8-bit states
    dora = est(adapter="lora", rank=8, targets=("q_proj", "v_proj"), use_dora=True)
    assert dora.trainable_params == 3584 + 2 * (64 + 32)  # + magnitude vectors


def test_full_fine_tuning_trains_every_weight():
    m = est(adapter="full", dtype="bfloat16", optimizer="adamw_torch")
    assert m.trainable == 0 and m.trainable_params == TOTAL
    assert m.gradients == TOTAL * 2 and m.optimizer == TOTAL * 4
    assert est(adapter="full", optimizer="adamw_8bit").optimizer == TOTAL * 2
    assert est(adapter="full", optimizer="sgd").optimizer == 0


def test_activations_and_logits_hand_computed():
    setup = dict(adapter="lora", batch_size=2, seq_len=8, lora_dropout=0.0)
    # per token per layer: norms 2x(4h+2h)=768, attention 2x(h+q+2kv+q+q)=2x(64+64+64+64+64)=640,
    # MLP 2x(h+4I)=2x(64+512)=1152 -> 2560 bytes; 16 tokens.
    no_ckpt = est(gradient_checkpointing=False, **setup)
    assert no_ckpt.activations == 2 * 16 * 2560
    full = est(gradient_checkpointing=True, loss="full", **setup)
    assert full.activations == 2 * 16 * 64 * 2 + 16 * 2560  # layer inputs + one layer recomputed
    assert full.logits == 16 * 128 * (2 + 4 + 4)  # bf16 logits, their fp32 upcast, the fp32 log-softmax
    fused = est(gradient_checkpointing=True, **setup)
    # The fused head's tiles and the recomputed layer are never alive together: the larger of the two counts.
    assert fused.activations + fused.logits == 2 * 16 * 64 * 2 + max(16 * 2560, fused.logits)
    eager = est(gradient_checkpointing=False, attn_implementation="eager", **setup)
    assert eager.activations - no_ckpt.activations == 2 * (2 * 2 * 2 * 4 * 8 * 8)  # scores + softmax, 2 layers


def test_adamws_step_temporaries_count_where_they_outgrow_the_backward_pass():
    """torch's AdamW copies every second moment at once on CUDA (foreach) and the largest parameter twice on
    the CPU; the step comes after the activations are freed, so only the excess over them counts."""
    short = dict(adapter="full", dtype="bfloat16", batch_size=1, seq_len=4, optimizer="adamw_torch", loss="full")
    m = est(**short)
    assert m.optimizer_step == TOTAL * 2 - m.activations - m.logits > 0
    assert m.total - m.overhead == m.weights + m.gradients + m.optimizer + TOTAL * 2  # the step is the peak
    assert est(**{**short, "optimizer": "adamw_torch_fused"}).optimizer_step == 0  # updates inside its kernel
    assert est(**{**short, "optimizer": "paged_adamw_8bit"}).optimizer_step == 0
    cpu = est(**{**short, "dtype": "float32", "device": "cpu", "loss_kernel": "torch"})
    largest = max(128 * 64, 64 * 128)  # the embedding / head / an MLP matrix: 8,192 weights each
    assert cpu.optimizer_step == max(0, 2 * largest * 4 - cpu.activations - cpu.logits)
    assert est(adapter="lora", batch_size=1, seq_len=512).optimizer_step == 0  # activations dwarf a LoRA step
    assert "optimizer_step" in m.to_dict() and sum(m.to_dict().values()) == m.total


def test_overhead_is_context_plus_allocator_slack():
    m = est(adapter="lora")
    working = m.total - m.overhead
    assert m.overhead == CUDA_CONTEXT + int(0.05 * working)


def test_each_strategy_divides_what_it_shards_and_nothing_else():
    one = est(adapter="full")
    fsdp = est(adapter="full", strategy="fsdp", world_size=4)
    assert fsdp.weights == one.weights // 4 and fsdp.gradients == one.gradients // 4
    assert fsdp.optimizer == one.optimizer // 4
    assert fsdp.activations == one.activations and fsdp.logits == one.logits
    assert fsdp.overhead > one.overhead  # the gathered layers (computed and prefetched) are whole
    zero3 = est(adapter="full", strategy="deepspeed-zero3", world_size=4)
    assert zero3.total == fsdp.total
    zero2 = est(adapter="full", strategy="deepspeed-zero2", world_size=4)
    assert zero2.weights == one.weights and zero2.gradients == one.gradients // 4
    assert zero2.optimizer == one.optimizer // 4
    ddp = est(adapter="full", strategy="ddp", world_size=4)  # a replica, plus the reducer's bucket copy
    assert ddp.weights == one.weights and ddp.optimizer == one.optimizer and ddp.gradients == 2 * one.gradients


def test_cpu_offload_moves_states_to_host_memory():
    fsdp = est(adapter="full", strategy="fsdp", world_size=4)
    off = est(adapter="full", strategy="fsdp", world_size=4, cpu_offload=True)
    assert off.weights == off.gradients == off.optimizer == 0
    assert off.offloaded == fsdp.weights + fsdp.gradients + fsdp.optimizer
    assert "offloaded" not in off.to_dict()  # host memory is not part of the GPU's breakdown
    zero2 = est(adapter="full", strategy="deepspeed-zero2", world_size=4, cpu_offload=True)
    assert zero2.optimizer == 0 and zero2.weights == est(adapter="full").weights  # ZeRO-2 offloads the optimizer
    assert est(adapter="full", strategy="ddp", world_size=4, cpu_offload=True).offloaded == 0  # DDP cannot offload


# Properties on a real architecture (the catalog's Llama-3.1-8B).
def catalog(model_id):
    cfg = json.loads(catalog_file(model_id).read_text())
    return spec_from_config(cfg), json.loads(catalog_file(model_id).with_suffix(".inspect.json").read_text())


@pytest.mark.parametrize("adapter", ["full", "lora", "qlora"])
@pytest.mark.parametrize("ckpt", [True, False])
def test_memory_never_falls_when_batch_sequence_or_rank_grows(adapter, ckpt):
    spec, ins = catalog("meta-llama/Llama-3.1-8B-Instruct")

    def total(**kw):
        base = dict(adapter=adapter, gradient_checkpointing=ckpt, batch_size=1, seq_len=512, rank=8)
        return estimate_memory(spec, ins, TrainSetup(**{**base, **kw})).total

    assert total(batch_size=1) <= total(batch_size=2) <= total(batch_size=8)
    assert total(seq_len=512) <= total(seq_len=2048) <= total(seq_len=8192)
    assert total(rank=8) <= total(rank=16) <= total(rank=64)


@pytest.mark.parametrize(
    "model_id", ["meta-llama/Llama-3.1-8B-Instruct", "microsoft/phi-2", "Qwen/Qwen2.5-7B-Instruct"]
)
def test_checkpointing_never_raises_memory_and_qlora_lora_full_order(model_id):
    spec, ins = catalog(model_id)
    for adapter in ("full", "lora", "qlora"):
        on = estimate_memory(spec, ins, TrainSetup(adapter=adapter, gradient_checkpointing=True, batch_size=4))
        off = estimate_memory(spec, ins, TrainSetup(adapter=adapter, gradient_checkpointing=False, batch_size=4))
        assert on.total <= off.total
    weights = {a: estimate_memory(spec, ins, TrainSetup(adapter=a)).weights for a in ("full", "lora", "qlora")}
    assert weights["qlora"] < weights["lora"] <= weights["full"]


def test_published_measurements_stay_within_bounds():
    """benchmarks/memory/accuracy.py over the cited measurements: the estimator must not drift (median error
    within 10%, and no counted case under-estimated by more than 10%: an under-estimate is an OOM)."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "memory" / "accuracy.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+) counted cases: median \|error\| ([\d.]+)%, .* worst under-estimate ([+-][\d.]+)%", out)
    assert match, out
    cases, median, worst_under = int(match.group(1)), float(match.group(2)), float(match.group(3))
    assert cases >= 10
    assert median <= 10.0
    assert worst_under >= -10.0


@pytest.mark.parametrize("adapter", ["ia3", "prompt_tuning", "prefix_tuning", "freeze", "lora"])
def test_trainable_parameters_match_what_peft_and_freezing_really_train(tmp_path, adapter):
    """The estimator's count of trained parameters equals the real model's, for every adapter type."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftwiz.config.schema import RunConfig
    from ftwiz.models.inspect import inspect_model
    from ftwiz.plan.memory import adapter_params
    from ftwiz.train.build import freeze_all_but_last_layers, peft_config

    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA_CONFIG))
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tmp_path))
    inspection = inspect_model(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tmp_path)), rank=8)
    config = RunConfig.model_validate(
        {"model": {"id": str(tmp_path)}, "data": {"path": "x.jsonl"}, "adapter": {"type": adapter, "r": 8}}
    )
    if adapter == "freeze":
        freeze_all_but_last_layers(model, config.adapter.trainable_layers)
    else:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config(config, model))
    real = sum(p.numel() for p in model.parameters() if p.requires_grad)
    setup = train_setup(config, None, "bfloat16")
    estimated = adapter_params(spec_from_config(TINY_LLAMA_CONFIG), inspection, setup)
    # freeze: layers' share of the non-embedding parameters (final norm spread over them): within 1%
    assert estimated == (pytest.approx(real, rel=0.01) if adapter == "freeze" else real)


def test_offloading_an_8b_full_fine_tune_frees_most_of_the_gpu():
    spec, ins = catalog("meta-llama/Llama-3.1-8B-Instruct")
    sharded = estimate_memory(spec, ins, TrainSetup(adapter="full", strategy="fsdp", world_size=2))
    off = estimate_memory(spec, ins, TrainSetup(adapter="full", strategy="fsdp", world_size=2, cpu_offload=True))
    assert off.total < 0.5 * sharded.total
    # per process: half of 16 GB of bf16 weights, 16 GB of gradients and 32 GB of Adam states
    assert off.offloaded == sharded.weights + sharded.gradients + sharded.optimizer == 4 * 8_030_261_248


def test_fused_head_for_llama_8b_is_the_tile_arithmetic_and_well_under_a_gib():
    """TRL 1.16's fused LM head at 2 x 2048 tokens on CUDA: one bf16 tile of 4,094 scored positions x 32,768
    vocabulary entries, the scored hidden states (bf16) and their fp32 gradient, 8 fp32 statistics a position.
    The old full-logits model charged 4.9 GiB for the same step."""
    from ftwiz.plan.memory import logit_bytes

    spec = spec_from_config(json.loads(catalog_file("meta-llama/Llama-3.1-8B-Instruct").read_text()))
    setup = TrainSetup(adapter="lora", batch_size=2, seq_len=2048)
    positions, h = 2 * 2047, spec.hidden_size
    expected = positions * 32768 * 2 + positions * h * (2 + 4) + positions * 4 * 8
    assert logit_bytes(spec, setup) == expected
    assert expected < 0.5 * 1024**3
    assert logit_bytes(spec, TrainSetup(adapter="lora", batch_size=2, seq_len=2048, loss="full")) > 4.5 * 1024**3
    # Answers-only loss: Triton scores only the positions with a label.
    assert logit_bytes(spec, TrainSetup(adapter="lora", batch_size=2, seq_len=2048, loss_share=0.25)) < expected / 2


def test_the_cpu_fallback_holds_whole_fp32_tiles_and_full_fine_tuning_an_fp32_head_gradient():
    """Without Triton every position is scored and `_backward_tile` holds the tile plus 7 fp32 tiles and a bool
    mask; a 16-bit full fine-tune accumulates the head's gradient in a separate fp32 buffer (vocab x hidden x 4)."""
    from ftwiz.plan.memory import logit_bytes

    spec = spec_from_config(json.loads(catalog_file("meta-llama/Llama-3.1-8B-Instruct").read_text()))
    cpu = TrainSetup(adapter="lora", batch_size=1, seq_len=1024, dtype="float32", loss_kernel="torch")
    n, h = 1023, spec.hidden_size
    assert logit_bytes(spec, cpu) == n * 32768 * (4 + 7 * 4 + 1) + n * h * 8 + n * 32
    lora = logit_bytes(spec, TrainSetup(adapter="lora"))
    full = logit_bytes(spec, TrainSetup(adapter="full"))
    assert full - lora == spec.vocab_size * h * 4


def test_tiles_come_from_the_installed_trl():
    """hardware/stack.py reads the installed TRL's tile sizes from its source, without importing it."""
    from ftwiz.hardware.stack import installed_stack

    stack = installed_stack()
    assert stack.fused_head and (stack.token_tile, stack.vocab_tile) == (4096, 32768)
    assert "trl" not in stack.assumed and stack.versions["trl"].startswith("1.")
    assert "fused LM head" in stack.describe("fused") and stack.to_dict("full")["tile"] is None


def test_memory_savers_cut_the_gpu_share_and_say_where_it_went():
    """Activation offloading keeps two of Llama-3.1-8B's 32 layers on the GPU and the rest in host memory;
    Liger's kernels keep fewer activations."""
    model = "meta-llama/Llama-3.1-8B-Instruct"
    spec = spec_from_config(json.loads(catalog_file(model).read_text()))
    ins = json.loads(catalog_file(model).with_suffix(".inspect.json").read_text())

    def memory(**kw):
        return estimate_memory(spec, ins, TrainSetup(adapter="lora", gradient_checkpointing=False, **kw))

    base, offload, liger = memory(), memory(activation_offloading=True), memory(liger=True)
    assert offload.activations + offload.offloaded == base.activations
    assert offload.activations == base.activations * 2 // 32
    assert liger.activations < base.activations and liger.offloaded == 0
