"""Small prompt-optimizer LMs built here, never downloaded: a byte-level BPE tokenizer trained on the RealBench
training prompts (index % 10 != 0) with the `tokenizers` library, and a Qwen3 causal LM of the production
architecture built from a config (random weights, seeded). The result is a Hugging Face model folder, loaded by the
trainer exactly as a production model (`trainer.lm.pretrained`).

Used by the tests (a tiny random LM) and by tools/train_demo_lm.py (a small LM then trained on the prompts)."""
from __future__ import annotations

import json
import os

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def training_texts(realbench_dir: str, fields=("prompt", "long_prompt")) -> list[str]:
    """The RealBench training prompts (the held-out index % 10 == 0 never), in file order."""
    out = []
    with open(os.path.join(realbench_dir, "realbench.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if isinstance(r.get("index"), int) and r["index"] % 10 != 0:
                    out += [r[k] for k in fields if isinstance(r.get(k), str)]
    return out


def train_tokenizer(texts: list[str], vocab_size: int, extra_texts: list[str] = ()):
    """Byte-level BPE (any text encodes: no unknown tokens) with the ChatML specials; returns a
    PreTrainedTokenizerFast whose eos is `<|im_end|>` and pad `<|endoftext|>`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(list(texts) + list(extra_texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None, additional_special_tokens=["<|im_start|>"])


def qwen3_config(vocab_size: int, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2, intermediate: int = 128,
                 max_positions: int = 1024, pad_token_id: int = 0, eos_token_id: int = 2):
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=hidden // heads,
                       max_position_embeddings=max_positions, tie_word_embeddings=True, pad_token_id=pad_token_id,
                       eos_token_id=eos_token_id, bos_token_id=None, rope_theta=10000.0)


def build_folder(folder: str, tokenizer, model) -> str:
    os.makedirs(folder, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def make_tiny_lm_folder(folder: str, realbench_dir: str, *, vocab_size: int = 512, seed: int = 0, system: str | None = None,
                        descriptors_json: str | None = None, sft_steps: int = 0, sft_batch: int = 16, sft_lr: float = 3e-3,
                        **arch) -> str:
    """A tiny randomly initialised Qwen3 + a tokenizer trained on the short training prompts (a few seconds). With
    `sft_steps`, a short supervised pass on `sft_pairs` (so that some rewrites end and are well-formed)."""
    import torch
    from transformers import Qwen3ForCausalLM

    from .rewrite import DEFAULT_SYSTEM_PROMPT

    system = system or DEFAULT_SYSTEM_PROMPT
    phrases = descriptor_phrases(descriptors_json) if descriptors_json else []
    tok = train_tokenizer(training_texts(realbench_dir, ("prompt",)), vocab_size, [system] + phrases)
    cfg = qwen3_config(len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **arch)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg)
    if sft_steps:
        sft(model, tok, sft_pairs(realbench_dir, phrases, seed, copies=1), system, sft_steps, batch=sft_batch, lr=sft_lr, seed=seed)
    return build_folder(folder, tok, model)


def descriptor_phrases(descriptors_json: str) -> list[str]:
    with open(descriptors_json, encoding="utf-8") as f:
        slots = json.load(f)["slots"]
    return [p for phrases in slots.values() for p in phrases if p != "none"]


def sft_pairs(realbench_dir: str, phrases: list[str], seed: int, copies: int = 4) -> list[tuple[str, str]]:
    """(user prompt, rewrite) pairs for a first supervised pass: the short training prompt, and the same prompt
    followed by 0–4 photographic phrases drawn at random (the caption style realgen-mini was trained on). The LM
    thereby learns the format (copy, add detail, end the turn); which details help is left to stage-1 RL."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(copies):
        for text in training_texts(realbench_dir, ("prompt",)):
            extra = rng.sample(phrases, rng.randint(0, 4))
            out.append((text, ", ".join([text.rstrip(". ")] + extra)))
    rng.shuffle(out)
    return out


def sft(model, tok, pairs: list[tuple[str, str]], system: str, steps: int, batch: int = 16, lr: float = 3e-3, seed: int = 0,
        log=None) -> list[float]:
    """Next-token loss on the assistant turn only (ChatML layout, as the trainer prompts). Returns the losses."""
    import torch

    from .rewrite import chatml

    torch.manual_seed(seed)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    rows = []
    for user, answer in pairs:
        p = tok.encode(chatml(system, user), add_special_tokens=False)
        a = tok.encode(answer, add_special_tokens=False) + [end]
        rows.append((p + a, len(p)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 50) * max(0.05, 1 - k / max(1, steps)))
    model.train()
    losses = []
    for k in range(steps):
        part = [rows[(k * batch + i) % len(rows)] for i in range(batch)]
        T = max(len(r) for r, _ in part)
        ids = torch.full((batch, T), tok.pad_token_id, dtype=torch.long)
        labels = torch.full((batch, T), -100, dtype=torch.long)
        attn = torch.zeros((batch, T), dtype=torch.long)
        for i, (r, n_p) in enumerate(part):
            ids[i, :len(r)] = torch.tensor(r)
            labels[i, n_p:len(r)] = torch.tensor(r[n_p:])
            attn[i, :len(r)] = 1
        loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if log and (k % 50 == 0 or k == steps - 1):
            log(f"sft step {k + 1}/{steps} loss {loss:.3f}")
    model.eval()
    return losses
