"""Train the reward CNN detector (reward split vs fakes A) and the held-out residual detector
(heldout_detector split vs fakes B). Exports detector-cnn.onnx / detector-residual.onnx + manifests."""
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import CACHE, OUT, SEED, load_images, load_rows, seed_all, split_indices, write_json, read_json
from augment import augment, to_input
from models import DetectorCNN, ResidualDetector


def manifest(name, role, onnx, extra):
    # The detector manifest schema of infra/detectors/detector-manifest.ts (strict): "cover" = centre-crop to the
    # target aspect, then resize, which is what training did (centre square crop, LANCZOS to 64).
    m = {"name": name, "role": role, "onnx": onnx,
         "input": {"name": "image", "size": [64, 64], "layout": "NCHW", "colorOrder": "RGB",
                   "resize": [{"size": [64, 64], "mode": "cover", "kernel": "lanczos3"}],
                   "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
         "output": {"name": "logits", "kind": "logits", "realIndex": 0},
         "description": "decode RGB -> center-crop to square -> resize to 64x64 (LANCZOS) -> x/255 -> (x-0.5)/0.5",
         "info": dict(extra)}
    return m


def export(model, path):
    model.eval()
    x = torch.randn(2, 3, 64, 64).clamp(-1, 1)
    torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})


def train_cnn(budget):
    seed_all(SEED)
    rng = random.Random(SEED)
    rows = load_rows(); sp = split_indices(rows); imgs = load_images()
    real = imgs[sp["reward"]]
    fake = np.load(os.path.join(CACHE, "fakes_A.npy"))
    X = np.concatenate([real, fake]); Y = np.array([0] * len(real) + [1] * len(fake))
    model = DetectorCNN(ch=32)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    t0 = time.time(); step = 0; epoch = 0; B = 64
    while time.time() - t0 < budget:
        model.train()
        order = list(range(len(X))); rng.shuffle(order)
        tl, tc, tn = 0.0, 0, 0
        for b in range(0, len(order), B):
            bi = order[b:b + B]
            xb = torch.from_numpy(np.stack([augment(X[i], rng) for i in bi]))
            yb = torch.from_numpy(Y[bi]).long()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(); loss.backward(); opt.step(); step += 1
            tl += loss.item() * len(bi); tc += (logits.argmax(1) == yb).sum().item(); tn += len(bi)
        epoch += 1
        print(f"cnn epoch {epoch} loss {tl/tn:.4f} acc {tc/tn:.3f} t={time.time()-t0:.0f}s", flush=True)
    wall = time.time() - t0
    model.eval()
    torch.save(model.state_dict(), os.path.join(CACHE, "detector-cnn.pt"))
    export(model, os.path.join(OUT, "detector-cnn.onnx"))
    n = sum(p.numel() for p in model.parameters())
    write_json(os.path.join(OUT, "detector-cnn.json"), manifest("cnn-semantic", "reward", "detector-cnn.onnx", {
        "params": n, "trainSteps": step, "epochs": epoch, "trainWallSeconds": round(wall, 1),
        "finalTrainLoss": tl / tn, "finalTrainAccAugmented": tc / tn,
        "trainData": f"real: reward split ({len(real)} photos); fake: generator samples seed range A ({len(fake)})",
        "augmentation": "both classes: hflip p0.5, GaussianBlur r0.3-1.2 p0.3, colour jitter (brightness/contrast/saturation 0.8-1.2) p0.5, JPEG q50-95 p0.5, Gaussian noise std U(0,0.03) p0.5"}))
    print("cnn done", step, wall)


def train_residual():
    seed_all(SEED)
    rows = load_rows(); sp = split_indices(rows); imgs = load_images()
    real = imgs[sp["heldout_detector"]]
    fake = np.load(os.path.join(CACHE, "fakes_B.npy"))
    X = torch.from_numpy(to_input(np.concatenate([real, fake])))
    Y = torch.tensor([0.0] * len(real) + [1.0] * len(fake))
    model = ResidualDetector()
    t0 = time.time()
    with torch.no_grad():
        f = model.features(X)
        model.feat_mean.copy_(f.mean(0)); model.feat_std.copy_(f.std(0).clamp(min=1e-6))
        fz = (f - model.feat_mean) / model.feat_std
    opt = torch.optim.LBFGS(model.linear.parameters(), lr=0.5, max_iter=200)
    l2 = 1e-2

    def closure():
        opt.zero_grad()
        z = model.linear(fz).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(z, Y) + l2 * model.linear.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        z = model.linear(fz).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(z, Y).item(); acc = ((z > 0).float() == Y).float().mean().item()
    wall = time.time() - t0
    model.eval()
    torch.save(model.state_dict(), os.path.join(CACHE, "detector-residual.pt"))
    export(model, os.path.join(OUT, "detector-residual.onnx"))
    write_json(os.path.join(OUT, "detector-residual.json"), manifest("residual-heldout", "heldout", "detector-residual.onnx", {
        "params": sum(p.numel() for p in model.parameters()), "nFeatures": model.n_feat, "trainWallSeconds": round(wall, 2),
        "finalTrainLoss": loss, "finalTrainAcc": acc,
        "features": "fixed high-pass residuals (I - 3x3 binomial blur, Laplacian, horizontal/vertical/diagonal first differences, 5x5 SRM square) per RGB channel, valid conv; per residual: log E[r^2], log E|r|, log E[r^4]/E[r^2]^2; + cross-channel correlation of (I - blur) residual (RG, RB, GB); standardised; logistic head (L-BFGS, L2 1e-2). logits = [0, z].",
        "trainData": f"real: heldout_detector split ({len(real)} photos); fake: generator samples seed range B ({len(fake)}); evaluation only, never a reward"}))
    print("residual done loss", loss, "acc", acc)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 180
    if which in ("all", "cnn"):
        train_cnn(budget)
    if which in ("all", "residual"):
        train_residual()
