"""RunConfig validation: good configs pass, bad ones fail with one actionable line per key."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

from ftwiz.config.presets import apply_overrides, load_config, parse_override, read_yaml, to_yaml, validate
from ftwiz.config.schema import RunConfig
from ftwiz.config.values import OPTIMIZERS, SCHEDULERS, deadline_at, parse_duration
from ftwiz.errors import BadInput, ConfigError

MINIMAL = {"model": {"id": "org/model"}, "data": {"path": "data.jsonl"}}


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(data)
    return info.value.problems


def with_(section: str, **values) -> dict:
    return {**MINIMAL, section: {**MINIMAL.get(section, {}), **values}}


def test_minimal_config_gets_documented_defaults():
    cfg = validate(MINIMAL)
    assert cfg.adapter.type == "lora" and cfg.adapter.r == 16 and cfg.adapter.target_modules == "all_linear"
    assert cfg.model.trust_remote_code is False
    assert cfg.quant.bits == "none"
    assert cfg.output.runs_dir == "./runs"
    assert cfg.train.max_steps == -1


def test_attention_takes_transformers_names_and_hub_kernels_but_foreign_code_only_when_trusted():
    def model(**kw):
        return {**MINIMAL, "model": {**MINIMAL["model"], **kw}}

    assert validate(model(attn_implementation="kernels-community/flash-attn2")).model.attn_implementation
    assert validate(model(attn_implementation="flash_attention_2")).model.attn_implementation == "flash_attention_2"
    with pytest.raises(ConfigError, match=r"model\.attn_implementation.*'flash2' is neither one of eager"):
        validate(model(attn_implementation="flash2"))
    with pytest.raises(ConfigError, match="outside kernels-community: its code would run here"):
        validate(model(attn_implementation="someone/fast-attn"))
    trusted = validate(model(attn_implementation="someone/fast-attn", trust_remote_code=True))
    assert trusted.model.attn_implementation == "someone/fast-attn"


def test_wrong_type_names_key_value_and_what_is_allowed():
    assert problems(with_("adapter", r="eight")) == ["adapter.r: expected a positive integer, got 'eight'"]
    assert problems(with_("adapter", r=0)) == ["adapter.r: expected a positive integer, got 0"]
    assert problems(with_("adapter", lora_dropout=1.5)) == [
        "adapter.lora_dropout: expected a number >= 0 and < 1, got 1.5"
    ]
    assert problems(with_("train", gradient_checkpointing="maybe")) == [
        "train.gradient_checkpointing: expected true or false, got 'maybe'"
    ]


def test_choice_errors_list_choices_and_suggest_the_closest():
    (line,) = problems(with_("model", dtype="bf16"))
    assert line.startswith("model.dtype: expected one of: auto, bfloat16, float16, float32, got 'bf16'")
    assert line.endswith("did you mean 'bfloat16'?")
    (line,) = problems(with_("train", optim="adam"))
    assert "did you mean 'adamw_torch'?" in line


def test_unknown_keys_suggest_the_closest_valid_key():
    assert problems(with_("adapter", rank=8)) == ["adapter.rank: unknown key; did you mean 'r'?"]
    assert problems(with_("train", lr=1e-4)) == ["train.lr: unknown key; did you mean 'learning_rate'?"]
    assert problems(with_("train", max_length=512)) == [
        "train.max_length: unknown key here; did you mean 'data.max_length'?"
    ]
    assert problems({**MINIMAL, "outputs": {}}) == ["outputs: unknown key; did you mean 'output'?"]
    (line,) = problems(with_("adapter", zzz=1))
    assert line.startswith("adapter.zzz: unknown key; allowed: type, r, lora_alpha")


def test_missing_required_keys():
    assert problems({"data": {"path": "x.jsonl"}}) == [
        "model: required: a mapping with keys id, dtype, trust_remote_code, attn_implementation"
    ]
    assert problems({"model": {}, "data": {"path": "x"}}) == ["model.id: required: a non-empty string"]


def test_every_problem_is_reported_at_once():
    bad = {
        "model": {"id": "m", "dtype": "bf16"},
        "data": {"path": "d", "val_size": -1},
        "adapter": {"r": "eight", "rank": 8},
        "train": {"warmup_ratio": 0.1},
    }
    lines = problems(bad)
    assert len(lines) == 5
    assert {line.split(":")[0] for line in lines} == {
        "model.dtype",
        "data.val_size",
        "adapter.r",
        "adapter.rank",
        "train.warmup_ratio",
    }
    assert "train.warmup_ratio: unknown key; did you mean 'warmup_steps'?" in lines


def test_qlora_implies_4bit_and_rejects_an_explicit_conflict():
    cfg = validate(with_("adapter", type="qlora"))
    assert cfg.quant.bits == 4 and cfg.quant.type == "nf4" and cfg.quant.double_quant
    assert cfg.quantized
    assert validate({**with_("adapter", type="qlora"), "quant": {"bits": 4, "type": "fp4"}}).quant.type == "fp4"
    (line,) = problems({**with_("adapter", type="qlora"), "quant": {"bits": 8}})
    assert line.startswith("quant.bits: adapter.type 'qlora' trains on a 4-bit base, got quant.bits=8")
    (line,) = problems({**with_("adapter", type="full"), "quant": {"bits": 4}})
    assert line.startswith("quant.bits: full fine-tuning cannot update quantized weights")


def test_warmup_steps_is_a_ratio_below_one_or_whole_steps():
    assert validate(with_("train", warmup_steps=0.1)).train.warmup_steps == 0.1
    assert validate(with_("train", warmup_steps=100)).train.warmup_steps == 100
    assert problems(with_("train", warmup_steps=1.5)) == [
        "train.warmup_steps: expected a fraction < 1 or a whole number of steps, got 1.5"
    ]


def test_target_sets_aliases_and_lists():
    assert validate(with_("adapter", target_modules="all-linear")).adapter.target_modules == "all_linear"
    assert validate(with_("adapter", target_modules=["q_proj", "v_proj"])).adapter.target_modules == [
        "q_proj",
        "v_proj",
    ]
    (line,) = problems(with_("adapter", target_modules="attn"))
    assert line.startswith("adapter.target_modules: expected one of attention_qv, attention, all_linear")


def test_max_steps_zero_and_bad_run_name_are_refused():
    (line,) = problems(with_("train", max_steps=0))
    assert "-1 to train for num_train_epochs" in line
    (line,) = problems(with_("output", run_name="../escape"))
    assert line.startswith("output.run_name: expected letters, digits")


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), (30, 30)])
def test_deadline_durations(text, seconds):
    assert parse_duration(text) == seconds
    start = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    assert deadline_at(validate(with_("train", deadline=text)).train.deadline, start) == start + timedelta(
        seconds=seconds
    )


def test_deadline_as_a_clock_time_or_a_date_time():
    start = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    later_today = start.astimezone().replace(hour=23, minute=59)
    assert deadline_at("23:59", start) == later_today if later_today > start else later_today + timedelta(days=1)
    assert deadline_at("2026-11-24T06:00:00+00:00", start) == datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    assert deadline_at("00:00", start) > start  # a clock time already past today means tomorrow
    (line,) = problems(with_("train", deadline="2020-01-01T00:00:00+00:00"))
    assert "a time ahead" in line


def test_deadline_rejects_nonsense():
    (line,) = problems(with_("train", deadline="soon"))
    assert line.startswith("train.deadline: expected a duration ('2h', '90m'), a clock time ('18:30') or a date-time")
    assert line.endswith("got 'soon'")


def test_dpo_is_a_method_with_its_beta():
    config = validate({**MINIMAL, "method": "dpo", "train": {"beta": 0.2}})
    assert config.method == "dpo" and config.train.beta == 0.2
    (line,) = problems({**MINIMAL, "method": "grpo"})
    assert line.startswith("method: expected one of")


def test_effective_batch_size_shows_its_arithmetic():
    cfg = validate(with_("train", per_device_train_batch_size=4, gradient_accumulation_steps=8))
    assert cfg.train.effective_batch_size() == 32
    assert cfg.train.effective_batch_size(world_size=2) == 64


def test_choices_match_the_installed_transformers():
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    assert set(SCHEDULERS) <= {s.value for s in SchedulerType}
    assert set(OPTIMIZERS) <= {o.value for o in OptimizerNames}


def _sections(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """`model` and every model class its fields hold (through Optional, list, dict, Annotated)."""
    yield model
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from _sections(annotation)
            stack.extend(typing.get_args(annotation))


def test_every_field_and_section_is_documented():
    """Attribute docstrings become field descriptions (the wizard's F1 help and --help read them)."""
    sections = list(dict.fromkeys(_sections(RunConfig)))
    assert len(sections) == 9  # RunConfig and its eight sections
    undocumented = [
        f"{section.__name__}.{name}"
        for section in sections
        for name, info in section.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert undocumented == []
    assert [s.__name__ for s in sections if not (s.__doc__ or "").strip()] == []


def test_yaml_errors_name_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("model:\n  id: x\ndata:\n  path: d.jsonl\nadapter:\n  r: eight\n  rank: 8\n")
    data, origins = read_yaml(path)
    with pytest.raises(ConfigError) as info:
        validate(data, origins, source=str(path))
    assert info.value.problems == [
        f"{path}:6: adapter.r: expected a positive integer, got 'eight'",
        f"{path}:7: adapter.rank: unknown key; did you mean 'r'?",
    ]
    path.write_text("model:\n  id: x\n   bad indent: [\n")
    with pytest.raises(BadInput, match=rf"{path}:\d+: YAML syntax error"):
        read_yaml(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(BadInput, match="expected a mapping of config sections"):
        read_yaml(path)


def test_overrides_parse_yaml_values_and_win(tmp_path: Path):
    assert parse_override("train.learning_rate=1e-4") == (("train", "learning_rate"), 1e-4)
    assert parse_override("adapter.target_modules=[q_proj, v_proj]") == (
        ("adapter", "target_modules"),
        ["q_proj", "v_proj"],
    )
    assert parse_override("train.gradient_checkpointing=false") == (("train", "gradient_checkpointing"), False)
    origins: dict = {}
    merged = apply_overrides(MINIMAL, ["adapter.r=8", "adapter.r=32", "quant.bits=4"], origins)
    assert merged["adapter"]["r"] == 32 and merged["quant"]["bits"] == 4
    assert MINIMAL == {"model": {"id": "org/model"}, "data": {"path": "data.jsonl"}}  # not mutated
    assert origins[("adapter", "r")] == "--set adapter.r=32"
    for bad in ("noequals", "=3", "a..b=1"):
        with pytest.raises(BadInput, match=r"expected KEY\.PATH=VALUE"):
            parse_override(bad)
    with pytest.raises(BadInput, match=r"'model\.id' is a value, not a section"):
        apply_overrides(MINIMAL, ["model.id.x=1"], {})


def test_override_problems_name_the_override():
    with pytest.raises(ConfigError) as info:
        load_config("tiny-demo", ["adapter.r=eight"])
    assert info.value.problems == ["--set adapter.r=eight: adapter.r: expected a positive integer, got 'eight'"]


def test_yaml_round_trip_is_lossless():
    cfg = load_config("phi2-qlora").config
    data = __import__("yaml").safe_load(to_yaml(cfg))
    assert RunConfig.model_validate(data) == cfg


def test_named_chat_templates():
    assert validate(with_("data", chat_template="llama-3")).data.chat_template == "llama-3"
    (line,) = problems(with_("data", chat_template="llama3"))
    assert line.endswith("did you mean 'llama-3'?")
