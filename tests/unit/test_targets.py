"""Target sets resolve to the module names each architecture really has (inspected on the meta device)."""

from __future__ import annotations

import pytest

from ftwiz.errors import BadInput
from ftwiz.models.targets import resolve_targets


def linear_names(model_type: str, **dims) -> list[str]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftwiz.train.build import linear_module_names

    config = AutoConfig.for_model(model_type, **dims)
    with torch.device("meta"):  # no weights, no RAM
        model = AutoModelForCausalLM.from_config(config)
    return linear_module_names(model)


SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4, vocab_size=128)

CASES = {
    # model_type: (dims, attention_qv, attention, all_linear)
    "llama": (
        {**SMALL, "num_key_value_heads": 2},
        ["q_proj", "v_proj"],
        ["k_proj", "o_proj", "q_proj", "v_proj"],
        ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
    ),
    "phi": (  # phi-2: attention output is `dense`, the MLP is fc1/fc2
        {**SMALL, "pad_token_id": 0},
        ["q_proj", "v_proj"],
        ["dense", "k_proj", "q_proj", "v_proj"],
        ["dense", "fc1", "fc2", "k_proj", "q_proj", "v_proj"],
    ),
    "gpt2": (  # GPT-2 uses transformers' Conv1D and a fused c_attn
        {"n_embd": 64, "n_layer": 1, "n_head": 4, "vocab_size": 128, "bos_token_id": 0, "eos_token_id": 0},
        ["c_attn"],
        ["attn.c_proj", "c_attn"],  # the MLP has a c_proj too: qualified so PEFT takes only attention
        ["c_attn", "c_fc", "c_proj"],
    ),
    "gpt_neox": (
        {**SMALL, "bos_token_id": 0, "eos_token_id": 0},
        ["query_key_value"],
        ["dense", "query_key_value"],
        ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"],
    ),
}


@pytest.mark.parametrize("model_type", list(CASES))
def test_sets_resolve_per_architecture(model_type):
    dims, qv, attention, all_linear = CASES[model_type]
    names = linear_names(model_type, **dims)
    assert resolve_targets("attention_qv", names) == qv
    assert resolve_targets("attention", names) == attention
    assert resolve_targets("all_linear", names) == all_linear
    assert resolve_targets("all-linear", names) == all_linear
    assert "lm_head" not in resolve_targets("all_linear", names)


def test_all_linear_leaves_moe_routers_out():
    names = [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.v_proj",
        "model.layers.0.block_sparse_moe.gate",
        "model.layers.0.block_sparse_moe.experts.0.w1",
        "lm_head",
    ]
    assert resolve_targets("all_linear", names) == ["q_proj", "v_proj", "w1"]


def test_explicit_lists_are_checked_against_the_model():
    names = ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"]
    assert resolve_targets(["q_proj"], names) == ["q_proj"]
    with pytest.raises(BadInput, match="query_key_value not found") as info:
        resolve_targets(["query_key_value"], names)
    assert "q_proj, up_proj" in str(info.value)
