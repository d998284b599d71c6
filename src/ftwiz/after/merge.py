"""`ftwiz merge RUN [--out DIR]`: the adapter folded into its base, saved as a plain transformers model.

A 4-bit base is not merged in 4-bit (PEFT's `merge_and_unload` would keep quantized layers, and rounding the
merged weights to NF4 loses the adapter's update): the base is reloaded unquantized in the run's compute dtype
(bf16 on a GPU that has it), the adapter applied and merged, and the result saved as safetensors that
`AutoModelForCausalLM.from_pretrained(DIR)` loads with no PEFT installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ftwiz.after.load import load_for_generation
from ftwiz.errors import BadInput
from ftwiz.runs.store import RunDir


def merge(run: RunDir, out: Path | None = None) -> Path:
    out = (out or run.path / "merged").expanduser()
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"--out {out}: the folder exists and is not empty", hint="Give a new folder, or remove it.")
    model, tokenizer, config = load_for_generation(run, quantized=False)
    if config.adapter.whole_model:
        raise BadInput(f"{run.id} trained the model itself ({config.adapter.type}): {run.adapter} is the whole model")
    if config.adapter.type in ("prompt_tuning", "prefix_tuning"):
        raise BadInput(
            f"{run.id} learned virtual tokens ({config.adapter.type}): they are extra inputs, not weights to merge",
            hint="Load it with PEFT (AutoPeftModelForCausalLM), or push the adapter as it is.",
        )
    merged = model.merge_and_unload()
    tmp = out.with_name(out.name + ".partial")  # written beside, renamed when complete: nothing half-written
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if out.exists():  # an empty folder the user made
        out.rmdir()
    tmp.replace(out)
    return out
