"""Training prompts and the realgen-mini tokenizer.

Prompts are RealBench's non-held-out items (index % 10 ≠ 0, as infra/realbench/realbench.ts isHeldoutIndex), read
from `<realbench.source.dir>/realbench.jsonl`. The sampler draws them in a seeded order that is reshuffled every pass;
its only state is a cursor, saved in every checkpoint, so a resumed run draws the same prompts."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass

import numpy as np

from .protocol import TrainerFailure


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    category: str | None


def load_prompts(realbench_dir: str | None, field: str = "prompt") -> list[Prompt]:
    if not realbench_dir:
        raise TrainerFailure("DatasetMissing", "the torch trainer reads prompts from realbench.source.dir")
    path = os.path.join(realbench_dir, "realbench.jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as err:
        raise TrainerFailure("DatasetMissing", f"{path}: {err}") from err
    out = []
    for r in rows:
        idx = r.get("index")
        if not isinstance(idx, int) or idx % 10 == 0:
            continue  # the held-out 10% is never trained on
        text = r.get(field) or r.get("prompt")
        out.append(Prompt(id=f"{idx:05d}", text=text, category=r.get("category")))
    if not out:
        raise TrainerFailure("DatasetMissing", f"{path}: no training prompts")
    return out


class PromptSampler:
    def __init__(self, prompts: list[Prompt], seed: int, label: str, cursor: int = 0):
        self.prompts = prompts
        self.seed = seed
        self.label = label
        self.cursor = cursor
        self._pass = -1
        self._order: np.ndarray | None = None

    def _order_of_pass(self, p: int) -> np.ndarray:
        digest = hashlib.sha256(f"prompt-order/{self.seed}/{self.label}/{p}".encode()).digest()
        rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))
        return rng.permutation(len(self.prompts))

    def next(self, n: int) -> list[Prompt]:
        out = []
        for _ in range(n):
            p = self.cursor // len(self.prompts)
            if p != self._pass:
                self._order, self._pass = self._order_of_pass(p), p
            out.append(self.prompts[int(self._order[self.cursor % len(self.prompts)])])
            self.cursor += 1
        return out


WORD_RE = re.compile(r"[a-z0-9]+")


class MiniTokenizer:
    """tools/python/tokenizer.py encode(): [category] + word ids + known bigrams, truncated, right-padded with 0."""

    def __init__(self, path: str):
        with open(path, encoding="utf-8") as f:
            t = json.load(f)
        self.vocab, self.bigrams, self.categories = t["vocab"], t["bigrams"], t["categories"]
        self.unk, self.pad, self.max_len, self.vocab_size = t["unk"], t["pad"], t["maxLen"], t["vocabSize"]

    def encode(self, text: str, category: str | None = None) -> list[int]:
        w = WORD_RE.findall(text.lower())
        ids = [self.categories[category]] if category is not None and category in self.categories else []
        ids += [self.vocab.get(x, self.unk) for x in w]
        ids += [self.bigrams[f"{a} {b}"] for a, b in zip(w, w[1:]) if f"{a} {b}" in self.bigrams]
        ids = ids[: self.max_len]
        return ids + [self.pad] * (self.max_len - len(ids))
