"""What watching a run costs: training throughput with ftwiz's run-folder callback and NVML sampling, against
the same training without them (issue 6: at most 2% tokens/s).

Both arms build the trainer exactly as the worker does (`ftwiz.train.build`) on the tiny demo, alternate, and
repeat; the table gives each repetition's tokens/s and the median ratio. On a GPU box, point --model/--data at a
real preset to measure where the overhead matters.

    .venv/bin/python benchmarks/monitor_overhead.py [--steps 80] [--repeat 3] [--preset tiny-demo]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ftwiz.config.presets import load_config
from ftwiz.data.load import load_rows, split_rows
from ftwiz.runs.store import MetricsWriter, RunDir, StatusWriter, utc_now


def one_arm(preset: str, steps: int, watched: bool) -> float:
    """Tokens per second of `steps` optimizer steps, with or without ftwiz's callback and sampler."""
    import torch

    from ftwiz.hardware.sampler import SYSTEM_EVERY_SECONDS, GpuSampler, SystemRecorder, visible_gpu_indices
    from ftwiz.train import build
    from ftwiz.train.callbacks import RunFolderCallback

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"output.runs_dir={tmp}", f"train.max_steps={steps}", "train.save_steps=100000"]
        config = load_config(preset, overrides).config
        run = RunDir(Path(tmp))
        rows, _, _ = load_rows(config.data)
        train_ds, _ = split_rows(rows, 0, config.train.seed)
        tokenizer = build.load_tokenizer(config, [])
        model = build.load_model(config)
        callbacks, recorder = [], None
        if watched:
            status, metrics = StatusWriter(run, state="loading", started_at=utc_now()), MetricsWriter(run)
            callbacks.append(RunFolderCallback(run, status, metrics, None))
            sampler = GpuSampler(visible_gpu_indices()) if torch.cuda.is_available() else GpuSampler([])
            recorder = SystemRecorder(sampler, lambda gpus: metrics.write("system", 0, gpu=gpus), SYSTEM_EVERY_SECONDS)
            recorder.start()
        trainer = build.make_trainer(config, model, tokenizer, train_ds, None, run, callbacks)
        # Both arms without the console printer, so the difference is ftwiz's callback and sampler alone.
        trainer.callback_handler.callbacks = [
            c
            for c in trainer.callback_handler.callbacks
            if type(c).__name__ not in ("PrinterCallback", "ProgressCallback")
        ]
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        if recorder is not None:
            recorder.close()
        return trainer.state.num_input_tokens_seen / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny-demo")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    one_arm(args.preset, 5, watched=False)  # warm-up: imports, caches
    ratios = []
    print(f"{'rep':>3}  {'plain tok/s':>12}  {'watched tok/s':>13}  {'ratio':>6}")
    for rep in range(1, args.repeat + 1):
        plain = one_arm(args.preset, args.steps, watched=False)
        watched = one_arm(args.preset, args.steps, watched=True)
        ratios.append(watched / plain)
        print(f"{rep:>3}  {plain:>12,.0f}  {watched:>13,.0f}  {watched / plain:>6.3f}")
    print(f"median ratio watched/plain: {statistics.median(ratios):.3f} (target >= 0.98)")


if __name__ == "__main__":
    main()
