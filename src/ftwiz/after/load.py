"""Load a run's result: the base model as the run trained it, with the run's adapter (or the full model).

Heavy imports (torch, transformers, peft): only the `chat`/`merge`/`push` commands come here.
"""

from __future__ import annotations

from typing import Any

from ftwiz.config.presets import load_config_file
from ftwiz.config.schema import RunConfig
from ftwiz.errors import BadInput
from ftwiz.runs.store import RunDir


def trained_config(run: RunDir) -> RunConfig:
    if not (run.adapter / "adapter_config.json").is_file() and not (run.adapter / "config.json").is_file():
        raise BadInput(
            f"{run.id} has no saved adapter or model in {run.adapter}",
            hint="It saves one when it completes or is stopped; `ftwiz runs` shows its state.",
        )
    return load_config_file(run.config)


def load_tokenizer(run: RunDir) -> Any:
    """The tokenizer saved beside the adapter: the chat template and pad token the run trained with."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(run.adapter))


def load_for_generation(run: RunDir, *, quantized: bool = True) -> tuple[Any, Any, RunConfig]:
    """(model, tokenizer, config): the base loaded as in training (4-bit when it trained 4-bit and `quantized`),
    with the adapter on top, in eval mode."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ftwiz.train import build

    config = trained_config(run)
    tokenizer = load_tokenizer(run)
    dtype = build.compute_dtype(config.model.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": config.model.trust_remote_code}
    if config.adapter.whole_model:
        model = AutoModelForCausalLM.from_pretrained(str(run.adapter), **kwargs)
    else:
        if quantized and (quant := build.quantization_config(config)) is not None:
            import torch

            kwargs["quantization_config"] = quant
            kwargs["device_map"] = {"": torch.cuda.current_device() if torch.cuda.is_available() else "cpu"}
        base = AutoModelForCausalLM.from_pretrained(build.model_path(config), **kwargs)
        if len(tokenizer) > base.get_input_embeddings().weight.shape[0]:
            base.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(base, str(run.adapter))
    if not quantized or config.quant.bits == "none":
        import torch

        if torch.cuda.is_available():
            model = model.to("cuda")
    model.eval()
    return model, tokenizer, config
