"""Distributed launch configs: generated for DDP, FSDP and DeepSpeed ZeRO, loaded by accelerate's own loader."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from ftwiz.commands.launch import node_commands
from ftwiz.commands.preflight import check_distributed
from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput
from ftwiz.train.spawn import accelerate_config


def config(**distributed) -> RunConfig:
    return RunConfig.model_validate(
        {"model": {"id": "org/m"}, "data": {"path": "d.jsonl"}, "distributed": {"num_processes": 8, **distributed}}
    )


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("deepspeed-zero2", "DEEPSPEED"), ("deepspeed-zero3", "DEEPSPEED")],
)
def test_each_strategy_gives_a_config_accelerate_loads(tmp_path, strategy, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    path = tmp_path / "accelerate.yaml"
    path.write_text(yaml.safe_dump(accelerate_config(config(strategy=strategy, cpu_offload=True))))
    loaded = load_config_from_file(str(path))
    assert loaded.distributed_type == kind and loaded.num_processes == 8
    if strategy == "fsdp":
        assert loaded.fsdp_config["fsdp_version"] == 2 and loaded.fsdp_config["fsdp_offload_params"]
        assert loaded.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    if strategy.startswith("deepspeed"):
        stage = int(strategy[-1])
        assert loaded.deepspeed_config["zero_stage"] == stage
        assert loaded.deepspeed_config["offload_param_device"] == ("cpu" if stage == 3 else "none")


def test_multi_node_needs_an_address_and_prints_a_command_per_machine():
    with pytest.raises(BadInput, match="main_process_ip"):
        check_distributed(config(num_machines=2), gpus=4)
    with pytest.raises(BadInput, match="do not split evenly"):
        check_distributed(config(num_machines=3, main_process_ip="10.0.0.1"), gpus=4)
    two = config(num_machines=2, main_process_ip="10.0.0.1", main_process_port=29501)
    check_distributed(two, gpus=4)  # 8 processes over 2 machines: 4 here
    with pytest.raises(BadInput, match="4 processes on this machine, one a GPU, but 2 GPU"):
        check_distributed(two, gpus=2)
    commands = node_commands("run.yaml", two.distributed)
    assert len(commands) == 2 and commands[1].endswith("--set distributed.machine_rank=1")
    assert "--set distributed.main_process_ip=10.0.0.1" in commands[0] and "num_processes=8" in commands[0]
    assert commands[0].startswith("ftwiz train run.yaml --headless --detach")
    one = node_commands("my run.yaml", config().distributed, ["adapter.r=8"])  # one machine: one command
    assert one == [
        "ftwiz train 'my run.yaml' --headless --detach --set adapter.r=8 --set distributed.num_processes=8 "
        "--set distributed.strategy=ddp"
    ]


def test_sharded_strategies_need_gpus_ddp_does_not():
    fsdp = config(strategy="fsdp")
    with pytest.raises(BadInput, match="needs NVIDIA GPUs"):
        check_distributed(fsdp, gpus=0)
    check_distributed(fsdp, gpus=8)
    check_distributed(config(strategy="ddp"), gpus=0)  # gloo on CPU: any number of processes
    with pytest.raises(BadInput, match="only sharded states can be offloaded"):
        check_distributed(config(strategy="ddp", cpu_offload=True), gpus=8)
    chosen = RunConfig.model_validate({**fsdp.model_dump(), "hardware": {"gpus": [0, 1]}})
    with pytest.raises(BadInput, match=r"but 2 GPU\(s\) selected in hardware\.gpus"):
        check_distributed(chosen, gpus=8)
    pissa = RunConfig.model_validate({**fsdp.model_dump(), "adapter": {"init_lora_weights": "pissa"}})
    with pytest.raises(BadInput, match="needs the whole adapter in one process"):
        check_distributed(pissa, gpus=8)


def test_fsdp_qlora_stores_4bit_weights_in_the_compute_dtype():
    import torch

    from ftwiz.train.build import quantization_config

    data = {"model": {"id": "org/m"}, "data": {"path": "d.jsonl"}, "adapter": {"type": "qlora"}}
    fsdp = RunConfig.model_validate({**data, "distributed": {"num_processes": 2, "strategy": "fsdp"}})
    quant = quantization_config(fsdp)
    assert quant.bnb_4bit_quant_storage == quant.bnb_4bit_compute_dtype != torch.uint8
    assert quantization_config(RunConfig.model_validate(data)).bnb_4bit_quant_storage == torch.uint8


def test_a_config_silent_on_distribution_uses_every_gpu_ddp_or_fsdp_by_fit():
    from ftwiz.commands.preflight import choose_distribution

    base = RunConfig.model_validate({"model": {"id": "meta-llama/Llama-3.1-8B-Instruct"}, "data": {"path": "d.jsonl"}})
    same, note = choose_distribution(base, 1, 80 * 2**30)
    assert same is base and note is None
    ddp, note = choose_distribution(base, 4, 80 * 2**30)  # LoRA on 8B fits an 80 GB GPU
    assert (ddp.distributed.num_processes, ddp.distributed.strategy) == (4, "ddp") and "DDP" in note
    full = base.model_copy(update={"adapter": base.adapter.model_copy(update={"type": "full"})})
    fsdp, note = choose_distribution(full, 8, 24 * 2**30)  # a full 8B replica (~70 GB) does not fit 24 GB
    assert fsdp.distributed.strategy == "fsdp" and "more than one GPU's 24 GiB" in note
    assert not fsdp.distributed.cpu_offload
    huge = full.model_copy(update={"model": full.model.model_copy(update={"id": "meta-llama/Llama-3.1-70B-Instruct"})})
    offload, note = choose_distribution(huge, 2, 24 * 2**30)  # 70B full: ~1 TB of states, 2 x 24 GB
    assert offload.distributed.strategy == "fsdp" and offload.distributed.cpu_offload and "host memory" in note
    explicit = RunConfig.model_validate({**base.model_dump(), "distributed": {"num_processes": 1}})
    assert choose_distribution(explicit, 8, 80 * 2**30) == (explicit, None)  # the user's choice stands


def test_only_sharded_multi_process_runs_skip_rank_0_sampling(monkeypatch):
    """Rank 0 alone cannot generate from FSDP/ZeRO-3 shards (the other ranks hold the rest): the worker skips it."""
    from ftwiz.train.distributed import sharded

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert sharded(config(strategy="fsdp")) and sharded(config(strategy="deepspeed-zero3"))
    assert not sharded(config(strategy="ddp")) and not sharded(config(strategy="deepspeed-zero2"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not sharded(config(strategy="fsdp"))


def test_cpu_offload_is_refused_when_the_host_cannot_hold_the_states():
    from ftwiz.commands.preflight import check_host_memory

    data = {"model": {"id": "meta-llama/Llama-3.1-8B-Instruct"}, "data": {"path": "d.jsonl"}}
    data["adapter"] = {"type": "full"}
    offload = RunConfig.model_validate(
        {**data, "distributed": {"num_processes": 2, "strategy": "fsdp", "cpu_offload": True}}
    )
    with pytest.raises(BadInput, match=r"need at least \d+ GiB of this machine's RAM"):
        check_host_memory(offload, host_ram=32 * 2**30)  # 2 x ~30 GiB of weights, gradients and Adam states
    check_host_memory(offload, host_ram=256 * 2**30)
    check_host_memory(RunConfig.model_validate({**data, "distributed": {"num_processes": 2}}), host_ram=1)  # no offload


def four_gpu_box(host_ram: int, gib: int = 24):
    """This machine as probed through a fake NVML: four GPUs of `gib` GiB, `host_ram` bytes of RAM."""
    from dataclasses import replace

    from ftwiz.hardware.probe import FakeProbe, GpuInfo, probe_hardware

    gpus = tuple(GpuInfo(i, "NVIDIA L4", gib * 2**30, gib * 2**30, 0, (8, 9)) for i in range(4))
    return replace(probe_hardware(".", FakeProbe(gpus)), host_ram_bytes=host_ram)


def test_the_launch_preflights_the_distribution_it_chose(tmp_path, monkeypatch):
    """One launch path (commands.launch.start): a config silent on distribution gets FSDP + CPU offload on four
    small GPUs, and the host-RAM refusal applies to that config, before any run folder exists."""
    from ftwiz.commands import launch

    spawned = []
    monkeypatch.setattr(launch, "spawn_worker", lambda run: spawned.append(run) or SimpleNamespace(pid=4242))
    data = tmp_path / "chats.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n')
    config = RunConfig.model_validate(
        {
            "model": {"id": "meta-llama/Llama-3.1-70B-Instruct"},
            "data": {"path": str(data)},
            "adapter": {"type": "full"},
            "output": {"runs_dir": str(tmp_path / "runs")},
        }
    )
    with pytest.raises(BadInput, match=r"distributed\.cpu_offload: the offloaded states need at least"):
        launch.start(config, argv=["ftwiz", "train", "c.yaml"], hardware=four_gpu_box(host_ram=64 * 2**30))
    assert not (tmp_path / "runs").exists() and not spawned

    started = launch.start(config, argv=["ftwiz", "train", "c.yaml"], hardware=four_gpu_box(host_ram=2**50))
    frozen = yaml.safe_load(started.run.config.read_text())["distributed"]
    assert (frozen["num_processes"], frozen["strategy"], frozen["cpu_offload"]) == (4, "fsdp", True)
    assert spawned == [started.run] and any("FSDP + CPU offload" in note for note in started.notes)
