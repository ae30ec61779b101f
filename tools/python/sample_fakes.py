"""Sample generator fakes with the trained PyTorch generator (Euler, 28 steps, sigmas linspace(1,0,29)).

Sets: A = reward-split captions (seeds 100000+i), B = heldout_detector-split captions (seeds 200000+i),
C = heldout captions (seeds 300000+i, evaluation only). Cached as uint8 [N,64,64,3] under .tools/realgen-cache.
"""
import json
import os
import random
import sys
import time

import numpy as np
import torch

from common import CACHE, OUT, SEED, load_rows, seed_all, split_indices
import tokenizer as T
from export_generator import SIGMAS, load_generator

SETS = {"A": ("reward", 600, 100000), "B": ("heldout_detector", 300, 200000), "C": ("heldout", 105, 300000)}
if os.environ.get("REALGEN_SMOKE"):  # tiny sets for a quick pipeline check only
    SETS = {k: (v[0], 40, v[2]) for k, v in SETS.items()}


@torch.no_grad()
def sample(model, toks, seeds, batch=64):
    out = []
    for b in range(0, len(seeds), batch):
        tk = toks[b:b + batch]
        x = torch.stack([torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(s)) for s in seeds[b:b + batch]])
        for i in range(len(SIGMAS) - 1):
            s0, s1 = SIGMAS[i], SIGMAS[i + 1]
            v = model(x, torch.full((x.shape[0],), s0), tk)
            x = x + v * (s1 - s0)
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def main():
    seed_all(SEED)
    which = sys.argv[1:] or ["C", "B", "A"]
    model, ck, tok = load_generator()
    desc = T.load(os.path.join(OUT, "descriptors.json"))
    rows = load_rows()
    split = split_indices(rows)
    for name in which:
        sp, n, base = SETS[name]
        idx = split[sp][:n]
        rng = random.Random(base)
        caps = [T.training_caption(rows[i], desc, rng) for i in idx]
        toks = torch.tensor([T.encode(tok, c, rows[i]["category"]) for c, i in zip(caps, idx)], dtype=torch.long)
        seeds = [base + k for k in range(len(idx))]
        t0 = time.time()
        imgs = sample(model, toks, seeds)
        np.save(os.path.join(CACHE, f"fakes_{name}.npy"), imgs)
        with open(os.path.join(CACHE, f"fakes_{name}.json"), "w") as f:
            json.dump({"split": sp, "indices": idx, "captions": caps, "seeds": seeds, "secs": time.time() - t0}, f)
        print(name, imgs.shape, f"{time.time()-t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
