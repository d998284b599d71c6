"""ModelSpec: what the planner needs to know about a model, read from its config.json. Pure: no torch.

Parameter counts here come from the config's dimensions (the usual decoder layout: embeddings, attention,
gated or plain MLP, MoE experts, norms, head). The meta-device inspection (`models/inspect.py`) counts the
real module tree exactly; when its result is at hand the planner prefers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Architectures whose MLP is two matrices (up, down) rather than three (gate, up, down).
PLAIN_MLP_TYPES = {"gpt2", "gpt_neox", "phi", "gpt_bigcode", "falcon", "starcoder2", "opt", "bloom", "gptj"}
# Architectures with biases on q/k/v (Qwen2 family) or on every linear (GPT-2 style).
QKV_BIAS_TYPES = {"qwen2", "qwen2_moe", "qwen2_vl"}
ALL_BIAS_TYPES = {"gpt2", "gpt_neox", "phi", "gpt_bigcode", "starcoder2", "opt", "bloom"}


def _first(cfg: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    return default


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language model's part of a config (multimodal configs nest it under `text_config`)."""
    inner = config.get("text_config") or config.get("language_config") or config.get("llm_config")
    if isinstance(inner, Mapping):
        return {**inner, "model_type": inner.get("model_type", config.get("model_type"))}
    return config


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def context_length(config: Mapping[str, Any]) -> int | None:
    """The longest sequence the model was built for (tokens), from its config: the language model's part of a
    multimodal config first, then the top level. None when the config does not say. `data.max_length` above it
    means positions the model never saw (RoPE) or an index error (learned positions), hence the cap."""
    for part in (text_config(config), config):
        value = _first(part, *CONTEXT_KEYS)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class ModelSpec:
    model_type: str
    architectures: tuple[str, ...]
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool
    num_experts: int  # 0 for dense models
    experts_per_token: int
    moe_intermediate_size: int
    max_positions: int | None
    rope_scaling: dict[str, Any] | None
    dtype: str | None
    params_embedding: int
    params_per_layer: int
    params_total: int
    """Tied embeddings counted once."""

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def params_active(self) -> int:
        """Parameters used per token (MoE models run experts_per_token of num_experts)."""
        if not self.is_moe:
            return self.params_total
        idle = (self.num_experts - self.experts_per_token) * self._expert_params * self.layers
        return self.params_total - idle

    @property
    def _expert_params(self) -> int:
        return 3 * self.hidden_size * self.moe_intermediate_size

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "architectures": list(self.architectures)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        return cls(**{**data, "architectures": tuple(data.get("architectures") or ())})


def spec_from_config(config: Mapping[str, Any]) -> ModelSpec:
    """A ModelSpec from a config.json mapping."""
    top = config
    cfg = text_config(config)
    model_type = str(cfg.get("model_type") or top.get("model_type") or "unknown")
    hidden = int(_first(cfg, "hidden_size", "n_embd", "d_model"))
    layers = int(_first(cfg, "num_hidden_layers", "n_layer", "num_layers"))
    heads = int(_first(cfg, "num_attention_heads", "n_head", "num_heads"))
    kv_heads = int(_first(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", default=heads))
    if cfg.get("multi_query"):
        kv_heads = 1
    head_dim = int(_first(cfg, "head_dim", default=hidden // heads))
    intermediate = int(_first(cfg, "intermediate_size", "n_inner", "ffn_dim", default=4 * hidden))
    vocab = int(_first(cfg, "vocab_size", "padded_vocab_size"))
    tied = bool(_first(cfg, "tie_word_embeddings", default=top.get("tie_word_embeddings", True)))
    experts = int(_first(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0) or 0)
    top_k = int(_first(cfg, "num_experts_per_tok", "moe_topk", "top_k", default=0) or 0)
    moe_inter = int(_first(cfg, "moe_intermediate_size", default=intermediate)) if experts else 0
    shared_inter = int(cfg.get("shared_expert_intermediate_size") or 0)

    q_out, kv_out = heads * head_dim, kv_heads * head_dim
    attn = hidden * q_out + 2 * hidden * kv_out + q_out * hidden
    if model_type in ALL_BIAS_TYPES:
        attn += q_out + 2 * kv_out + hidden
    elif model_type in QKV_BIAS_TYPES or cfg.get("attention_bias"):
        attn += q_out + 2 * kv_out
    gated = model_type not in PLAIN_MLP_TYPES
    if experts:
        mlp = experts * 3 * hidden * moe_inter + hidden * experts  # experts + router
        if shared_inter:
            mlp += 3 * hidden * shared_inter + hidden  # shared expert and its gate
    else:
        mlp = (3 if gated else 2) * hidden * intermediate
        if model_type in ALL_BIAS_TYPES:
            mlp += intermediate + hidden
    norms = 2 * hidden * (2 if model_type in ALL_BIAS_TYPES else 1)
    per_layer = attn + mlp + norms
    embedding = vocab * hidden
    if model_type == "gpt2":
        embedding += int(_first(cfg, "n_positions", default=1024)) * hidden
    head = 0 if tied else vocab * hidden
    total = embedding + layers * per_layer + hidden + head
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    return ModelSpec(
        model_type=model_type,
        architectures=tuple(top.get("architectures") or ()),
        layers=layers,
        hidden_size=hidden,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=vocab,
        tied_embeddings=tied,
        num_experts=experts,
        experts_per_token=top_k,
        moe_intermediate_size=moe_inter,
        max_positions=context_length(config),
        rope_scaling=dict(rope) if isinstance(rope, Mapping) else None,
        dtype=_first(cfg, "dtype", "torch_dtype", default=top.get("torch_dtype")),
        params_embedding=embedding,
        params_per_layer=per_layer,
        params_total=total,
    )
