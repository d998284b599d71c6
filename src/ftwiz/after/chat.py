"""`ftwiz chat RUN`: talk to the trained model in the terminal, tokens streamed as they come.

The conversation is rendered with the tokenizer saved in the run (the template it trained with). One prompt
with `--prompt`, or an interactive session (Ctrl-D or an empty line ends it; `/reset` forgets the history).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from threading import Thread
from typing import Any, TextIO

from ftwiz.after.load import load_for_generation
from ftwiz.runs.store import RunDir


@dataclass(frozen=True)
class ChatOptions:
    max_new_tokens: int = 256
    temperature: float = 0.7
    do_sample: bool = True
    system: str | None = None


def reply(model: Any, tokenizer: Any, messages: list[dict[str, str]], options: ChatOptions, out: TextIO) -> str:
    """Generate the assistant's next turn, writing tokens to `out` as they arrive; returns the whole text."""
    import torch
    from transformers import TextIteratorStreamer

    tokenizer.padding_side = "left"  # generation: the prompt ends where new tokens begin
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = {
        **enc,
        "max_new_tokens": options.max_new_tokens,
        "do_sample": options.do_sample,
        "streamer": streamer,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if options.do_sample:
        kwargs["temperature"] = options.temperature
    thread = Thread(target=lambda: torch.no_grad()(model.generate)(**kwargs), daemon=True)
    thread.start()
    pieces = []
    for piece in streamer:
        pieces.append(piece)
        out.write(piece)
        out.flush()
    thread.join()
    out.write("\n")
    return "".join(pieces).strip()


def chat(run: RunDir, options: ChatOptions, prompt: str | None = None, out: TextIO = sys.stdout) -> int:
    model, tokenizer, _ = load_for_generation(run)
    system = [{"role": "system", "content": options.system}] if options.system else []
    if prompt is not None:
        reply(model, tokenizer, [*system, {"role": "user", "content": prompt}], options, out)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Chatting with {run.id}. Empty line or Ctrl-D ends, /reset forgets the conversation.", file=sys.stderr)
    history: list[dict[str, str]] = []
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        if not line.strip():
            break
        if line.strip() == "/reset":
            history = []
            continue
        history.append({"role": "user", "content": line})
        if interactive:
            out.write("model> ")
        answer = reply(model, tokenizer, [*system, *history], options, out)
        history.append({"role": "assistant", "content": answer})
    return 0
