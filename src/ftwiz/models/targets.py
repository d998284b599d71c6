"""Resolve a target set (attention_qv, attention, all_linear) to explicit module names. Pure.

ftwiz always hands PEFT an explicit list: PEFT's own `"all-linear"` also wraps MoE routers, and a set name
hides from the user what will actually train. The input is the model's real linear-like leaf modules
(qualified names), found by inspecting the model rather than by a per-architecture table.
"""

from __future__ import annotations

from collections.abc import Iterable

from ftwiz.config.values import TARGET_SET_ALIASES
from ftwiz.errors import BadInput

# Name suffixes of attention projections across architectures (Llama/Mistral/Qwen q_proj..., GPT-2's fused
# c_attn, GPT-NeoX/Falcon query_key_value, Phi-3 qkv_proj, MPT Wqkv, Baichuan W_pack, BERT-style query/value).
ATTN_Q = {"q_proj", "query", "wq", "q_lin"}
ATTN_K = {"k_proj", "key", "wk", "k_lin"}
ATTN_V = {"v_proj", "value", "wv", "v_lin"}
ATTN_O = {"o_proj", "out_proj", "wo", "out_lin"}
ATTN_FUSED = {"qkv_proj", "query_key_value", "c_attn", "Wqkv", "W_pack", "qkv"}
ATTN_PARENTS = ("attn", "attention", "self_attn", "self_attention")
# Routers choose experts; adapting them destabilises MoE training, so all_linear leaves them out.
ROUTER_NAMES = {"router", "gate", "shared_expert_gate"}
HEAD_NAMES = {"lm_head", "embed_out", "output", "score"}


def _suffix(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _parent(name: str) -> str:
    parts = name.split(".")
    return parts[-2] if len(parts) > 1 else ""


def is_attention_output(name: str) -> bool:
    """o_proj-like modules, plus `dense`/`c_proj` when they sit inside an attention block (Phi, GPT-2)."""
    suffix = _suffix(name)
    return suffix in ATTN_O or (suffix in {"dense", "c_proj"} and _parent(name) in ATTN_PARENTS)


def is_router(name: str) -> bool:
    # Mixtral: block_sparse_moe.gate; Qwen-MoE: mlp.gate (beside mlp.experts); generic: *.router.
    # A dense model's `mlp.gate_proj` is an MLP projection, not a router.
    return _suffix(name) in ROUTER_NAMES


MLP_UP = {"up_proj", "fc1", "c_fc", "dense_h_to_4h", "w3", "wi", "fc_in"}
MLP_GATE = {"gate_proj", "w1"}
MLP_DOWN = {"down_proj", "fc2", "dense_4h_to_h", "w2", "fc_out"}
MLP_FUSED = {"gate_up_proj"}
MLP_PARENTS = ("mlp", "feed_forward", "ffn", "block_sparse_moe", "moe")


def classify(name: str) -> str:
    """The kind of a linear module from its qualified name: attention_q/k/v/o, attention_qkv, mlp_up/gate/
    down, mlp_gate_up, router, lm_head or other."""
    suffix = _suffix(name)
    if suffix in HEAD_NAMES:
        return "lm_head"
    if is_router(name):
        return "router"
    if suffix in ATTN_FUSED:
        return "attention_qkv"
    for kind, names in (("attention_q", ATTN_Q), ("attention_k", ATTN_K), ("attention_v", ATTN_V)):
        if suffix in names:
            return kind
    if is_attention_output(name):
        return "attention_o"
    if suffix in MLP_FUSED:
        return "mlp_gate_up"
    if suffix in MLP_GATE:
        return "mlp_gate"
    if suffix in MLP_UP:
        return "mlp_up"
    if suffix in MLP_DOWN or (suffix in {"c_proj", "dense"} and _parent(name) in MLP_PARENTS):
        return "mlp_down"
    return "other"


# Sub-modules of multimodal models that are not the language model: never fine-tuning targets by default.
TOWER_MARKERS = (
    "vision_tower",
    "vision_model",
    "visual",
    "vision_encoder",
    "image_encoder",
    "multi_modal_projector",
    "mm_projector",
    "audio_tower",
    "audio_model",
    "audio_encoder",
    "embed_vision",
    "embed_audio",
)


def in_tower(name: str) -> str | None:
    """The vision/audio tower a module belongs to, or None for the language model."""
    return next((part for part in name.split(".") if part in TOWER_MARKERS), None)


def resolve_targets(spec: str | list[str], linear_names: Iterable[str]) -> list[str]:
    """Module names PEFT should adapt, sorted; `linear_names` are all the model's linear leaves (qualified).

    Names are the shortest suffixes that pick exactly the intended modules: `q_proj` for Llama, `attn.c_proj`
    for GPT-2's attention output (its MLP has a `c_proj` too), longer paths where a vision tower shares them.
    """
    names = list(linear_names)
    if isinstance(spec, list):
        missing = [t for t in spec if not any(matches(t, n) for n in names)]
        if missing:
            suffixes = sorted({_suffix(n) for n in names})
            raise BadInput(
                f"adapter.target_modules: {', '.join(missing)} not found among the model's linear layers",
                hint=f"The model has: {', '.join(suffixes)}.",
            )
        return list(spec)
    spec = TARGET_SET_ALIASES.get(spec, spec)
    body = [n for n in names if not in_tower(n) and _suffix(n) not in HEAD_NAMES and not is_router(n)]
    if spec == "all_linear":
        keep = body
    elif spec == "attention_qv":
        keep = [n for n in body if _suffix(n) in ATTN_Q | ATTN_V] or [n for n in body if _suffix(n) in ATTN_FUSED]
    elif spec == "attention":
        keep = [n for n in body if _suffix(n) in ATTN_Q | ATTN_K | ATTN_V | ATTN_FUSED or is_attention_output(n)]
    else:
        raise BadInput(f"adapter.target_modules: unknown set {spec!r}; use attention_qv, attention or all_linear")
    if not keep:
        raise BadInput(
            f"adapter.target_modules: the set {spec!r} matches none of the model's linear layers",
            hint=f"List them explicitly from: {', '.join(sorted({_suffix(n) for n in names}))}.",
        )
    return _shortest_names(keep, [n for n in names if n not in set(keep)])


def _shortest_names(keep: list[str], others: list[str]) -> list[str]:
    """For each kept module, the shortest dotted suffix of its name that matches no other module."""
    out: set[str] = set()
    for name in keep:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            candidate = ".".join(parts[-k:])
            if not any(matches(candidate, other) for other in others):
                out.add(candidate)
                break
    return sorted(out)


def matches(target: str, name: str) -> bool:
    """PEFT's rule for a target_modules entry: the full name, or a dotted suffix of it."""
    return name == target or name.endswith("." + target)
