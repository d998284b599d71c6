"""Pretrain the tiny demo's base model: a ~1.7M-parameter Llama with its own byte-level BPE tokenizer.

    python scripts/demo/pretrain_model.py [--steps N] [--out DIR]    # about 5 minutes on 2 CPU cores

Writes src/ftwiz/assets/tiny-demo/model/ (config, safetensors, tokenizer with a ChatML template that carries
`{% generation %}` markers). Deterministic given the seed and torch version. The corpus is generated on
the fly from domain.py: stories and facts about the demo's names, items and cities, `key: value` cards,
copying drills, and chat turns of *other* tasks, so the base knows the words, the format pieces and the
chat template, but has never seen the extraction task that the demo fine-tunes.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import torch
from domain import CITIES, ITEMS, NAMES, slots, story
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

OUT = Path(__file__).resolve().parents[2] / "src" / "ftwiz" / "assets" / "tiny-demo" / "model"
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB = 600
SEQ = 128

# ChatML with generation markers; whitespace as literals (transformers renders with trim/lstrip blocks).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chat(messages: list[tuple[str, str]]) -> str:
    """What CHAT_TEMPLATE renders (checked against the tokenizer below)."""
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)


def card(rng: random.Random) -> str:
    s = slots(rng)
    keys = ["name", "city", "item", "count"]
    rng.shuffle(keys)
    return "card:\n" + "\n".join(f"{k}: {s[k]}" for k in keys[: rng.randint(2, 4)])


def words(rng: random.Random, n: int) -> str:
    # Numbers are a third of the drill words: copying a count exactly is the hardest part for a tiny model.
    return " ".join(
        str(rng.randint(1, 20)) if rng.random() < 0.33 else rng.choice(NAMES + ITEMS + CITIES) for _ in range(n)
    )


def copy_drill(rng: random.Random) -> str:
    w = words(rng, rng.randint(2, 6))
    return f"copy: {w} => {w}"


def chat_doc(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        w = words(rng, rng.randint(2, 6))
        return chat([("user", f"Repeat: {w}"), ("assistant", w)])
    s = slots(rng)
    if kind < 0.7:
        return chat(
            [
                ("user", f"{s['name']} lives in {s['city']}. Where does {s['name']} live?"),
                ("assistant", f"{s['name']} lives in {s['city']}."),
            ]
        )
    return chat([("user", f"Tell me about {s['name']}."), ("assistant", story(rng, rng.randint(1, 3)))])


def document(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.50:
        return story(rng, rng.randint(2, 6))
    if r < 0.62:
        return card(rng)
    if r < 0.85:
        return copy_drill(rng)
    return chat_doc(rng)


def build_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    check_template(fast)
    return fast


def check_template(tok: PreTrainedTokenizerFast) -> None:
    """The template renders exactly what `chat` writes, and the assistant mask covers answer + <|im_end|>."""
    msgs = [{"role": "user", "content": "Repeat: Lima"}, {"role": "assistant", "content": "Lima"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == chat([("user", "Repeat: Lima"), ("assistant", "Lima")]), repr(text)
    enc = tok.apply_chat_template(msgs, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "Lima<|im_end|>", tok.decode(masked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help="where to save (default: the package's assets)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = random.Random(args.seed)

    tokens_needed = args.steps * args.batch * SEQ
    corpus = [document(rng) for _ in range(20000)]
    tokenizer = build_tokenizer(corpus)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    stream: list[int] = []
    while len(stream) < tokens_needed:
        stream += tokenizer(document(rng), add_special_tokens=False)["input_ids"] + [eot]
    data = torch.tensor(stream[:tokens_needed])
    print(f"corpus: {len(data):,} tokens, vocab {len(tokenizer)}")

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=192,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params:,} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (args.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    start = time.time()
    model.train()
    for step in range(args.steps):
        x = data[step * args.batch * SEQ : (step + 1) * args.batch * SEQ].view(args.batch, SEQ)
        loss = model(input_ids=x, labels=x).loss  # the model shifts labels by one inside
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - start:6.0f}s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"saved to {args.out} after {time.time() - start:.0f}s; final loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
