"""OOM recovery decisions and the disk check's arithmetic: pure functions, no training."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput
from ftwiz.plan.estimate import checkpoint_bytes, checkpoints_on_disk
from ftwiz.train.recovery import next_fallback, oom_phase


def config(**train) -> RunConfig:
    base = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "gradient_checkpointing": False}
    return RunConfig.model_validate({"model": {"id": "org/m"}, "data": {"path": "d.jsonl"}, "train": {**base, **train}})


def test_the_ladder_keeps_the_effective_batch_then_checkpoints_then_quantizes_only_if_allowed():
    first, why = next_fallback(config(allow_qlora_fallback=True), 0)
    assert (first.train.per_device_train_batch_size, first.train.gradient_accumulation_steps) == (4, 4)
    assert "effective batch 16 -> 16" in why
    second, why = next_fallback(first, 1)
    assert second.train.gradient_checkpointing and "gradient checkpointing on" in why
    third, why = next_fallback(second, 2)
    assert third.adapter.type == "qlora" and third.quant.bits == 4 and "QLoRA" in why
    # without the opt-in, the third retry halves the batch again instead
    plain, _ = next_fallback(
        second.model_copy(update={"train": second.train.model_copy(update={"allow_qlora_fallback": False})}), 2
    )
    assert plain.adapter.type == "lora" and plain.train.per_device_train_batch_size == 2


def test_nothing_cheaper_left_means_no_retry():
    done = config(per_device_train_batch_size=1, gradient_checkpointing=True)
    assert next_fallback(done, 0) is None
    assert next_fallback(done, 2) is None


@pytest.mark.parametrize(
    ("names", "phase"),
    [
        (["train", "_inner_training_loop", "training_step", "backward", "_engine_run_backward"], "backward"),
        (["train", "training_step", "compute_loss", "_call_impl", "forward"], "forward"),
        (["train", "_inner_training_loop", "step", "_single_tensor_adamw"], "optimizer step"),
        (["train", "_maybe_log_save_evaluate", "evaluate", "evaluation_loop", "forward"], "eval"),
        (["train", "_save_checkpoint", "save_model", "save_pretrained"], "save"),
        (["run_training", "load_model", "from_pretrained"], "load"),
        (["train", "something_else"], "training step"),
    ],
)
def test_the_phase_that_ran_out_is_named_from_the_traceback(names, phase):
    assert oom_phase(("x.py", name) for name in names) == phase


def test_checkpoint_disk_arithmetic():
    # LoRA: 40M adapter params in fp32 + two fp32 Adam moments = 12 bytes a parameter
    assert checkpoint_bytes(40_000_000, 8_000_000_000, full=False, weight_bytes=2) == 480_000_000
    # full bf16 fine-tune of 1B parameters: 2 GB of weights + 8 GB of optimizer state
    assert checkpoint_bytes(10**9, 10**9, full=True, weight_bytes=2) == 10 * 10**9
    assert checkpoints_on_disk(1000, 200, 2) == 3  # two kept, one more while the newest is written
    assert checkpoints_on_disk(1000, 200, None) == 6
    assert checkpoints_on_disk(1000, None, 2) == 1  # only the graceful stop's


def test_the_disk_check_refuses_with_numbers_and_what_to_do(tmp_path, monkeypatch):
    import shutil

    from ftwiz.runs.store import RunDir
    from ftwiz.train import reports

    monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(free=3 * 2**30, total=0, used=0))
    args = SimpleNamespace(
        per_device_train_batch_size=4, gradient_accumulation_steps=1, max_steps=1000, num_train_epochs=1
    )
    trainer = SimpleNamespace(args=args, train_dataset=[0] * 100)
    full = config(save_steps=200, save_total_limit=2).model_copy()
    full.adapter.type = "full"
    with pytest.raises(BadInput, match=r"not enough disk for the checkpoints: up to 37\.3 GiB .* 3\.0 GiB free") as err:
        reports.check_disk(RunDir(tmp_path), full, trainer, 10**9, 10**9)
    assert "save_total_limit" in (err.value.hint or "")
    lora = config(save_steps=200, save_total_limit=2)
    reports.check_disk(RunDir(tmp_path), lora, trainer, 4_000_000, 10**9)  # 4 x 48 MB fits in 3 GiB
