"""Train the realgen-mini rectified-flow generator (CPU, 1 thread, wall-clock budget).

x_sigma = (1-sigma)*x0 + sigma*eps, target v = eps - x0, sigma ~ logit-normal(0,1).
Usage: python train_generator.py [budget_seconds]
"""
import csv
import math
import os
import random
import sys
import time

import numpy as np
import torch

from common import CACHE, OUT, SEED, load_images, load_rows, seed_all, split_of, sha256_file
import tokenizer as T
from models import UNet


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 1500.0
    seed_all(SEED)
    rng = random.Random(SEED)
    rows = load_rows()
    tok = T.load(os.path.join(OUT, "tokenizer.json"))
    desc = T.load(os.path.join(OUT, "descriptors.json"))
    imgs = load_images()
    train_idx = [r["index"] for r in rows if split_of(r["index"]) != "heldout"]
    x_all = torch.from_numpy(imgs[train_idx]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    model = UNet(tok["vocabSize"], ch=32)
    ema = UNet(tok["vocabSize"], ch=32)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    nparams = sum(p.numel() for p in model.parameters())
    print("params", nparams, "train images", len(train_idx), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    B, base_lr, warm = 32, 1e-3, 50
    log_path = os.path.join(CACHE, "generator-loss.csv")
    logf = open(log_path, "w", newline="")
    w = csv.writer(logf)
    w.writerow(["step", "elapsed_s", "loss", "lr"])
    t0 = time.time()
    step, run_loss, run_n = 0, 0.0, 0
    perm = []
    while True:
        el = time.time() - t0
        if el > budget:
            break
        frac = min(1.0, el / budget)
        lr = base_lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if len(perm) < B:
            perm = list(range(len(train_idx)))
            rng.shuffle(perm)
        bi, perm = perm[:B], perm[B:]
        x0 = x_all[bi].clone()
        flip = torch.rand(B) < 0.5
        x0[flip] = x0[flip].flip(-1)
        caps = [T.training_caption(rows[train_idx[i]], desc, rng) for i in bi]
        toks = torch.tensor([T.encode(tok, c, rows[train_idx[i]]["category"]) for c, i in zip(caps, bi)], dtype=torch.long)
        sigma = torch.sigmoid(torch.randn(B))
        eps = torch.randn_like(x0)
        s = sigma.view(B, 1, 1, 1)
        xs = (1 - s) * x0 + s * eps
        v = model(xs, sigma, toks)
        loss = (v - (eps - x0)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(0.995, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        step += 1
        run_loss += loss.item(); run_n += 1
        if step % 10 == 0:
            w.writerow([step, round(time.time() - t0, 1), run_loss / run_n, lr]); logf.flush()
            if step % 50 == 0:
                print(f"step {step} t={time.time()-t0:.0f}s loss={run_loss/run_n:.4f} lr={lr:.2e}", flush=True)
            run_loss, run_n = 0.0, 0
        if step % 200 == 0:
            torch.save({"ema": ema.state_dict(), "step": step}, os.path.join(CACHE, "generator.pt"))
    wall = time.time() - t0
    logf.close()
    torch.save({"ema": ema.state_dict(), "model": model.state_dict(), "step": step, "wall_s": wall,
                "params": nparams, "batch": B, "train_images": len(train_idx),
                "data_sha256": sha256_file(os.path.join(CACHE, "images64.npy"))},
               os.path.join(CACHE, "generator.pt"))
    print("done steps", step, "wall", wall, flush=True)


if __name__ == "__main__":
    main()
