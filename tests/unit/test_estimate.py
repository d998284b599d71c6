"""One RunConfig -> estimate mapping (plan/estimate.py): `ftwiz doctor --config`, `ftwiz plan`, the wizard's draft
and the launcher give the same number for the same knobs, and the number follows the config's own choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ftwiz.commands.doctor import DoctorOptions
from ftwiz.commands.doctor import run as doctor
from ftwiz.commands.plan import PlanOptions
from ftwiz.commands.plan import run as plan
from ftwiz.config.schema import RunConfig
from ftwiz.hardware.gpus import parse_gpu
from ftwiz.hardware.probe import FakeProbe
from ftwiz.models.inspect import inspect_reference
from ftwiz.plan.choices import Knobs
from ftwiz.plan.draft import Draft
from ftwiz.plan.estimate import config_changes, estimate, set_arguments

LLAMA8B = "meta-llama/Llama-3.1-8B-Instruct"
NO_GPU = FakeProbe([])


def write_config(tmp_path: Path, name: str, **sections) -> Path:
    data = {"model": {"id": LLAMA8B}, "data": {"path": "org/hub-dataset"}}
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def doctor_need(path: Path, gpu: str | None = None) -> tuple[int, str]:
    needs = doctor(DoctorOptions(config=str(path), gpu=gpu, runs_dir=str(path.parent)), probe=NO_GPU).needs
    assert needs is not None
    return needs.gpu_bytes, needs.dtype


# (config sections, the same knobs as `ftwiz plan` options, the card)
CASES = {
    "lora-all-linear": (
        {"adapter": {"type": "lora", "r": 16, "target_modules": "all_linear"}, "data": {"max_length": 2048}},
        {"adapter": "lora", "rank": 16, "targets": "all_linear", "seq_len": 2048},
        "A100-80GB",
    ),
    "lora-qv-r64": (
        {"adapter": {"type": "lora", "r": 64, "target_modules": "attention_qv"}, "data": {"max_length": 1024}},
        {"adapter": "lora", "rank": 64, "targets": "attention_qv", "seq_len": 1024},
        "L4",
    ),
    "qlora-attention-t4": (
        {
            "adapter": {"type": "qlora", "r": 8, "target_modules": "attention"},
            "train": {"optim": "paged_adamw_8bit", "per_device_train_batch_size": 1},
            "data": {"max_length": 4096},
        },
        {"adapter": "qlora", "rank": 8, "targets": "attention", "optimizer": "paged_adamw_8bit", "seq_len": 4096},
        "T4",  # no bf16: both train in fp16
    ),
    "full-8bit-adam": (
        {
            "adapter": {"type": "full"},
            "train": {"optim": "adamw_8bit", "per_device_train_batch_size": 2, "gradient_checkpointing": False},
            "data": {"max_length": 512},
        },
        {"adapter": "full", "optimizer": "adamw_8bit", "seq_len": 512},
        "H100-80GB",
    ),
}


def same_knobs(path: Path, card: str, knobs: dict) -> PlanOptions:
    """`ftwiz plan` options that fix every knob the config at `path` sets."""
    train = RunConfig.model_validate(yaml.safe_load(path.read_text())).train
    fixed = Knobs(
        batch_size=train.per_device_train_batch_size,
        grad_accum=train.gradient_accumulation_steps,
        gradient_checkpointing=train.gradient_checkpointing,
        **{"optimizer": train.optim, **knobs},
    )
    return PlanOptions(model=LLAMA8B, gpu=card, knobs=fixed)


@pytest.mark.parametrize("name", CASES)
def test_doctor_needs_what_plan_peaks_at_for_the_same_knobs_and_card(tmp_path: Path, name: str):
    sections, knobs, card = CASES[name]
    path = write_config(tmp_path, name, **sections)
    planned = plan(same_knobs(path, card, knobs)).plan
    assert planned is not None
    need, dtype = doctor_need(path, card)
    assert need == planned.best.memory.total
    assert dtype == ("float16" if card == "T4" else "bfloat16")


def test_on_a_gpu_less_box_doctor_plans_in_bf16_like_plan_for_a_bf16_card(tmp_path: Path):
    sections, knobs, _ = CASES["lora-all-linear"]
    path = write_config(tmp_path, "c", **sections)
    need, dtype = doctor_need(path)  # no --gpu, and no GPU here
    planned = plan(same_knobs(path, "A100-80GB", knobs)).plan
    assert dtype == "bfloat16"
    assert planned is not None and need == pytest.approx(planned.best.memory.total, rel=0.01)


def test_the_need_follows_the_configs_targets_rank_dtype_and_method(tmp_path: Path):
    def need(**sections) -> int:
        return doctor_need(write_config(tmp_path, "v", **sections), "A100-80GB")[0]

    base = need(adapter={"target_modules": "attention_qv"})
    assert need(adapter={"target_modules": "all_linear"}) > base  # more modules, more adapter states
    assert need(adapter={"target_modules": "attention_qv", "r": 128}) > base
    assert need(adapter={"target_modules": "attention_qv"}, model={"dtype": "float32"}) > base
    paired = need(adapter={"target_modules": "attention_qv"}, method="dpo", data={"format": "preference"})
    assert paired > base  # chosen and rejected go through the model together


def test_the_wizard_draft_and_a_plan_round_trip_through_the_same_keys():
    inspection = inspect_reference(LLAMA8B, isolate=True)
    draft = Draft.from_config(RunConfig.model_validate({"model": {"id": LLAMA8B}, "data": {"path": "d.jsonl"}}))
    draft.inspection, draft.gpu = inspection, parse_gpu("A10G")
    chosen = draft.recommend()
    draft.apply(chosen)
    # the draft's estimate of the applied config is the plan's own number
    assert draft.memory().total == chosen.best.memory.total
    assert estimate(draft.config(), inspection, draft.gpu).peak_bytes == chosen.best.memory.total
    changes = config_changes(chosen)
    assert {draft.get(key) for key in changes} and all(draft.get(key) == value for key, value in changes.items())
    line = set_arguments(changes)
    assert f"adapter.type={chosen.best.setup.adapter}" in line
    assert f"train.gradient_checkpointing={str(chosen.best.setup.gradient_checkpointing).lower()}" in line


def test_steps_disk_and_host_ram_come_from_the_config():
    inspection = inspect_reference(LLAMA8B, isolate=True)
    config = RunConfig.model_validate(
        {
            "model": {"id": LLAMA8B},
            "data": {"path": "d.jsonl", "val_size": 0.1},
            "train": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4, "save_steps": 10},
        }
    )
    e = estimate(config, inspection, rows=1000)
    assert e.steps == 113  # 900 training rows / (2 x 4) per step, one epoch, rounded up
    assert e.disk_bytes and e.disk_bytes > 0 and e.host_ram_bytes is None
    offload = config.model_copy(
        update={"distributed": config.distributed.model_copy(update={"num_processes": 2, "strategy": "fsdp"})}
    )
    offload.distributed.cpu_offload = True
    assert estimate(offload, inspection).host_ram_bytes > 0
