"""Train the feature-level reward detector `residual-reward` (issue 15): the held-out detector's residual-statistics
architecture (models.ResidualDetector), fitted on the REWARD split only (real: reward-split photos; fake: fresh
28-step generator samples for reward-split captions, seed range A, drawn with onnxruntime from generator.onnx), so it
shares no training image with the held-out detector (heldout_detector split vs seed range B).

Replaces the spectral reward detector, which scored generated samples above real photos from other sources and
moved against the held-out detector on sharpening. Writes detector-residual-reward.onnx/.json.
Usage: python tools/python/train_reward_residual.py [n_fakes=300]
"""
import os
import random
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from common import CACHE, OUT, SEED, load_rows, seed_all, split_indices, write_json
import tokenizer as T
from augment import to_input
from models import ResidualDetector
from train_detectors import export, manifest

STEPS = 28
SIGMAS = [float(s) for s in np.linspace(1.0, 0.0, STEPS + 1)]


def sample_ort(toks, seeds, batch=50):
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(OUT, "generator.onnx"), so, providers=["CPUExecutionProvider"])
    out = []
    for b in range(0, len(seeds), batch):
        tk = toks[b:b + batch]
        x = np.stack([torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(s)).numpy() for s in seeds[b:b + batch]])
        for i in range(STEPS):
            s0, s1 = SIGMAS[i], SIGMAS[i + 1]
            v = sess.run(["v"], {"x": x.astype(np.float32), "sigma": np.full((x.shape[0],), s0, np.float32), "tokens": tk})[0]
            x = x + v * (s1 - s0)
        out.append(((np.clip(x, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1))
        print("sampled", b + len(tk), "/", len(seeds), flush=True)
    return np.concatenate(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seed_all(SEED)
    rows = load_rows(); sp = split_indices(rows)
    imgs_path = os.path.join(CACHE, "images64.npy")
    if not os.path.exists(imgs_path):
        raise SystemExit(f"{imgs_path} missing: run tools/python/prep_data.py first")
    imgs = np.load(imgs_path)
    fakes_path = os.path.join(CACHE, f"fakes_A_ort_{n}.npy")
    if os.path.exists(fakes_path):
        fake = np.load(fakes_path)
    else:
        tok = T.load(os.path.join(OUT, "tokenizer.json")); desc = T.load(os.path.join(OUT, "descriptors.json"))
        idx = sp["reward"][:n]; rng = random.Random(100000)
        caps = [T.training_caption(rows[i], desc, rng) for i in idx]
        toks = np.array([T.encode(tok, c, rows[i]["category"]) for c, i in zip(caps, idx)], dtype=np.int64)
        t0 = time.time(); fake = sample_ort(toks, [100000 + k for k in range(n)]); print(f"sampling {time.time()-t0:.0f}s")
        np.save(fakes_path, fake)
    real = imgs[sp["reward"]]
    X = torch.from_numpy(to_input(np.concatenate([real, fake])))
    Y = torch.tensor([0.0] * len(real) + [1.0] * len(fake))
    model = ResidualDetector()
    t0 = time.time()
    with torch.no_grad():
        f = model.features(X)
        model.feat_mean.copy_(f.mean(0)); model.feat_std.copy_(f.std(0).clamp(min=1e-6))
        fz = (f - model.feat_mean) / model.feat_std
    # Class-balanced weights: 624 real vs n fake.
    w = torch.where(Y > 0.5, len(real) / len(fake), 1.0)
    opt = torch.optim.LBFGS(model.linear.parameters(), lr=0.5, max_iter=200)
    l2 = 1e-2

    def closure():
        opt.zero_grad()
        z = model.linear(fz).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(z, Y, weight=w) + l2 * model.linear.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        z = model.linear(fz).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(z, Y).item(); acc = ((z > 0).float() == Y).float().mean().item()
    wall = time.time() - t0
    model.eval()
    export(model, os.path.join(OUT, "detector-residual-reward.onnx"))
    write_json(os.path.join(OUT, "detector-residual-reward.json"), manifest("residual-reward", "reward", "detector-residual-reward.onnx", {
        "params": sum(p.numel() for p in model.parameters()), "nFeatures": model.n_feat, "trainWallSeconds": round(wall, 2),
        "finalTrainLoss": loss, "finalTrainAcc": acc, "builtBy": "tools/python/train_reward_residual.py", "seed": SEED,
        "features": "the held-out detector's fixed residual statistics (models.ResidualDetector); standardised; logistic head (L-BFGS, L2 1e-2, class-balanced). logits = [0, z].",
        "trainData": f"real: reward split ({len(real)} photos); fake: {len(fake)} onnxruntime 28-step generator samples for the first {len(fake)} reward-split captions, seeds 100000+i; disjoint from the held-out detector's data"}))
    print("residual-reward done loss", loss, "acc", acc)


if __name__ == "__main__":
    main()
