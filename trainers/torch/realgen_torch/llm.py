"""The prompt optimizer's causal LM (stage 1 and 3): loading from a local folder, the chat prompt, seeded sampling of
a group of rewrites, and per-token log-probabilities for the GRPO loss.

The model is any `AutoModelForCausalLM` folder in the Hugging Face layout (config.json, safetensors, tokenizer):
Qwen3-4B-Instruct in the paper's setup; the tests and the demo use a tiny Qwen3 of the same architecture with a
tokenizer trained on the RealBench training prompts (`lm_tokenizer.py`). Nothing is downloaded (HF_HUB_OFFLINE).

Sampling is our own loop (KV cache, one `torch.Generator`), not `generate()`: the draws come from the trainer's
generator only, so a resumed run samples the same tokens. A group of G rewrites of one prompt shares the prompt's
tokens, so no padding is needed while sampling; rows that ended keep being fed padding, which is ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .protocol import TrainerFailure
from .rewrite import chatml


@dataclass
class Completions:
    tokens: list[list[int]]  # sampled ids per row, the end-of-turn token included when the row ended
    ended: list[bool]


class PromptLM:
    def __init__(self, folder: str, device: torch.device, dtype: torch.dtype, system_prompt: str, max_prompt_tokens: int):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not folder or not os.path.isfile(os.path.join(folder, "config.json")):
            raise TrainerFailure("ConfigInvalid", f"trainer.lm.pretrained: {folder!r} is not a local model folder (no config.json)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.net = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as err:
            raise TrainerFailure("ConfigInvalid", f"trainer.lm.pretrained: cannot load {folder}: {err}") from err
        self.net.requires_grad_(False)
        self.net.to(device)
        self.net.config.use_cache = True
        self.device = device
        self.system_prompt = system_prompt
        self.max_prompt_tokens = max_prompt_tokens
        tok = self.tokenizer
        end = tok.convert_tokens_to_ids("<|im_end|>")
        self.eos_ids = sorted({i for i in (end, tok.eos_token_id) if isinstance(i, int) and i >= 0 and i != tok.unk_token_id})
        if not self.eos_ids:
            raise TrainerFailure("ConfigInvalid", f"trainer.lm.pretrained: the tokenizer of {folder} has no end-of-turn token")
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_ids[0]

    def prompt_ids(self, user_prompt: str) -> list[int]:
        """The chat prompt for one user prompt; the user text is cut to `max_prompt_tokens` tokens."""
        tok = self.tokenizer
        user_ids = tok.encode(user_prompt, add_special_tokens=False)[: self.max_prompt_tokens]
        user = tok.decode(user_ids)
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user}]
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return list(ids)
        return tok.encode(chatml(self.system_prompt, user), add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        body = [i for i in ids if i not in self.eos_ids]
        return self.tokenizer.decode(body, skip_special_tokens=False)

    @torch.no_grad()
    def sample(self, model, prompt: list[int], n: int, generator: torch.Generator, max_new: int, temperature: float,
               top_k: int) -> Completions:
        ids = torch.tensor([prompt] * n, dtype=torch.long, device=self.device)
        out = model(input_ids=ids, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1].float()
        eos = torch.tensor(self.eos_ids, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        cols = []
        for _ in range(max_new):
            logits = logits / temperature
            if top_k > 0 and top_k < logits.shape[-1]:
                kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, dim=-1).cpu()
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(self.device)
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            cols.append(nxt)
            done = done | torch.isin(nxt, eos)
            if bool(done.all()):
                break
            out = model(input_ids=nxt[:, None], past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1].float()
        rows = torch.stack(cols, 1).tolist() if cols else [[] for _ in range(n)]
        tokens, ended = [], []
        for r in rows:
            cut = next((j for j, t in enumerate(r) if t in self.eos_ids), None)
            tokens.append(r if cut is None else r[: cut + 1])
            ended.append(cut is not None)
        return Completions(tokens, ended)

    def token_logprobs(self, model, prompt: list[int], completions: list[list[int]], temperature: float):
        """log π(token | prefix) of every completion token (temperature-scaled logits, as sampled) → (lp [n,T], mask [n,T])."""
        n, P = len(completions), len(prompt)
        T = max(1, max(len(c) for c in completions))
        ids = torch.full((n, P + T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, T), dtype=torch.float32)
        attn = torch.zeros((n, P + T), dtype=torch.long)
        for i, c in enumerate(completions):
            ids[i, :P] = torch.tensor(prompt)
            if c:
                ids[i, P:P + len(c)] = torch.tensor(c)
            mask[i, :len(c)] = 1.0
            attn[i, :P + len(c)] = 1
        ids, attn, mask = ids.to(self.device), attn.to(self.device), mask.to(self.device)
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, P - 1:P - 1 + T].float() / temperature
        lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, P:P + T, None]).squeeze(-1)
        return lp * mask, mask


def grpo_token_loss(lp, old_lp, ref_lp, mask, adv, clip: float, beta: float):
    """The GRPO objective on the rewrite tokens: per token the clipped surrogate −min(ρA, clip(ρ, 1±ε)A) plus β times
    the k3 estimate of KL(π‖π_ref) = e^(ref−lp) − (ref−lp) − 1; averaged over each rewrite's tokens, then over the
    rewrites (GRPO's sequence-mean). Returns (loss, stats)."""
    ratio = torch.exp(lp - old_lp)
    a = adv[:, None]
    pg = -torch.minimum(ratio * a, torch.clamp(ratio, 1 - clip, 1 + clip) * a)
    d = ref_lp - lp
    kl = torch.exp(d) - d - 1
    per_seq = lambda t: (t * mask).sum(1) / mask.sum(1).clamp(min=1)  # noqa: E731
    loss = (per_seq(pg) + beta * per_seq(kl)).mean()
    n_tok = mask.sum().clamp(min=1)
    clipped = (((ratio - 1).abs() > clip).float() * mask).sum() / n_tok
    stats = {"policy_loss": float(per_seq(pg).mean()), "kl": float(per_seq(kl).mean()), "clipfrac": float(clipped),
             "approx_kl": float((0.5 * ((lp - old_lp) ** 2) * mask).sum() / n_tok)}
    return loss, stats
