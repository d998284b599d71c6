"""Inspection on the meta device: groups, fused experts, towers, PEFT-valid target sets, for many architectures."""

from __future__ import annotations

import pytest

from ftwiz.models.inspect import build_meta_model, inspect_model, rescale
from ftwiz.models.spec import spec_from_config

S = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
)
TOKENS = {"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
ARCHS = {
    "llama": S,
    "mistral": S,
    "qwen2": S,
    "gemma2": {**S, "head_dim": 16},
    "phi": {**S, **TOKENS},
    "phi3": {**S, **TOKENS},  # fused qkv_proj and gate_up_proj
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, **TOKENS),  # Conv1D
    "gpt_neox": {**{k: v for k, v in S.items() if k != "num_key_value_heads"}, **TOKENS},
    "falcon": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=128, **TOKENS),
    "starcoder2": {**S, **TOKENS},
    "mixtral": {**S, "num_local_experts": 4, "num_experts_per_tok": 2},  # experts as fused 3-D parameters
    "qwen2_moe": {
        **S,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 64,
    },
}


def config_dict(model_type: str) -> dict:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **ARCHS[model_type]).to_dict()


def llava_config() -> dict:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8
    )
    text = LlamaConfig(**{**S, "num_hidden_layers": 1})
    return LlavaConfig(vision_config=vision, text_config=text).to_dict()


@pytest.fixture(scope="module")
def inspected() -> dict:
    configs = {t: config_dict(t) for t in ARCHS} | {"llava": llava_config()}
    return {t: (cfg, build_meta_model(cfg)) for t, cfg in configs.items()}


@pytest.mark.parametrize("model_type", [*ARCHS, "llava"])
def test_every_suggested_set_is_accepted_by_peft(inspected, model_type):
    from peft import LoraConfig, get_peft_model

    cfg, _ = inspected[model_type]
    result = inspect_model(build_meta_model(cfg), rank=8)
    for target_set, names in result["targets"].items():
        assert names, f"{model_type}: empty {target_set}"
        model = build_meta_model(cfg)  # get_peft_model wraps in place: a fresh model per set
        peft_model = get_peft_model(
            model, LoraConfig(r=8, target_modules=names, target_parameters=result["target_parameters"] or None)
        )
        adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in peft_model.named_modules() if n.endswith("lora_A")}
        assert adapted, f"{model_type}/{target_set}: PEFT adapted nothing"
        assert not any("lm_head" in n or "vision_tower" in n or n.endswith(".gate") for n in adapted)
        lora = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n and "experts" not in n)
        assert lora == result["trainable_params"][target_set], f"{model_type}/{target_set}"


def test_groups_name_kind_and_shape(inspected):
    result = inspect_model(inspected["llama"][1])
    by_name = {g["name"]: g for g in result["linear_groups"]}
    assert by_name["q_proj"] == {
        "name": "q_proj",
        "count": 2,
        "in_features": 64,
        "out_features": 64,
        "params": 2 * 64 * 64,
        "kind": "attention_q",
    }
    assert by_name["k_proj"]["out_features"] == 32  # 2 KV heads x head dim 16
    assert by_name["lm_head"]["kind"] == "lm_head"
    assert "lm_head" not in result["targets"]["all_linear"]


def test_gpt2_conv1d_and_fused_attention(inspected):
    result = inspect_model(inspected["gpt2"][1])
    kinds = {(g["name"], g["kind"]) for g in result["linear_groups"]}
    assert (
        ("c_attn", "attention_qkv") in kinds and ("c_proj", "attention_o") in kinds and ("c_proj", "mlp_down") in kinds
    )
    c_attn = next(g for g in result["linear_groups"] if g["name"] == "c_attn")
    assert (c_attn["in_features"], c_attn["out_features"]) == (64, 192)
    assert result["targets"]["attention_qv"] == ["c_attn"]


def test_phi3_fused_projections(inspected):
    result = inspect_model(inspected["phi3"][1])
    kinds = {g["name"]: g["kind"] for g in result["linear_groups"]}
    assert kinds["qkv_proj"] == "attention_qkv" and kinds["gate_up_proj"] == "mlp_gate_up"


def test_moe_fused_experts_are_listed_and_routers_left_out(inspected):
    result = inspect_model(inspected["mixtral"][1])
    assert {f["name"] for f in result["fused_parameters"]} == {"experts.gate_up_proj", "experts.down_proj"}
    gate_up = next(f for f in result["fused_parameters"] if f["name"] == "experts.gate_up_proj")
    assert gate_up["shape"] == [4, 256, 64] and gate_up["count"] == 2
    assert result["target_parameters"] == ["experts.gate_up_proj", "experts.down_proj"]
    qwen = inspect_model(inspected["qwen2_moe"][1])
    assert not any(n == "gate" or n.endswith("shared_expert_gate") for n in qwen["targets"]["all_linear"])


def test_multimodal_towers_are_excluded(inspected):
    result = inspect_model(inspected["llava"][1])
    assert result["excluded_modules"] == ["multi_modal_projector", "vision_tower"]
    assert all(g["kind"] != "other" for g in result["linear_groups"])
    assert result["hidden_size"] == 64 and result["vocab_size"] == 128


def test_rescale_is_linear_in_rank(inspected):
    result = inspect_model(inspected["llama"][1], rank=16)
    assert rescale(result, 8)["trainable_params"] == inspect_model(inspected["llama"][1], rank=8)["trainable_params"]


@pytest.mark.parametrize(
    "model_type", ["llama", "mistral", "qwen2", "phi", "gpt2", "gpt_neox", "mixtral", "starcoder2"]
)
def test_spec_parameter_count_matches_the_real_module_tree(inspected, model_type):
    cfg, model = inspected[model_type]
    spec = spec_from_config(cfg)
    exact = inspect_model(model)["params_total"]
    assert spec.params_total == pytest.approx(exact, rel=0.02), (spec.params_total, exact)
