"""Export the trained generator (EMA weights) to ONNX, write generator.json and the loss-curve PNG."""
import csv
import os

import numpy as np
import torch

from common import CACHE, OUT, SEED, MAXLEN, seed_all, write_json
import tokenizer as T
from models import UNet

STEPS = 28
SIGMAS = [float(s) for s in np.linspace(1.0, 0.0, STEPS + 1)]


def load_generator():
    tok = T.load(os.path.join(OUT, "tokenizer.json"))
    ck = torch.load(os.path.join(CACHE, "generator.pt"), map_location="cpu")
    m = UNet(tok["vocabSize"], ch=32)
    m.load_state_dict(ck["ema"])
    m.eval()
    return m, ck, tok


def plot_loss():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps, losses = [], []
    with open(os.path.join(CACHE, "generator-loss.csv")) as f:
        for r in csv.DictReader(f):
            steps.append(int(r["step"])); losses.append(float(r["loss"]))
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, losses, lw=0.8, alpha=0.5, label="loss (mean of 10 steps)")
    if len(losses) >= 10:
        k = 10
        sm = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], sm, lw=1.5, label="moving avg (100 steps)")
    ax.set_xlabel("step (batch 32)"); ax.set_ylabel("velocity MSE"); ax.set_title("realgen-mini generator training loss")
    ax.legend(); ax.grid(alpha=0.3); fig.tight_layout()
    fig.savefig(os.path.join(OUT, "generator-loss.png")); plt.close(fig)
    return steps[-1] if steps else 0, losses[-1] if losses else None


def main():
    seed_all(SEED)
    m, ck, tok = load_generator()
    path = os.path.join(OUT, "generator.onnx")
    x = torch.randn(2, 3, 64, 64); s = torch.tensor([0.9, 0.3]); t = torch.randint(0, tok["vocabSize"], (2, MAXLEN))
    torch.onnx.export(m, (x, s, t), path, dynamo=False, opset_version=17, input_names=["x", "sigma", "tokens"],
                      output_names=["v"], dynamic_axes={"x": {0: "N"}, "sigma": {0: "N"}, "tokens": {0: "N"}, "v": {0: "N"}})
    last_step, last_loss = plot_loss()
    write_json(os.path.join(OUT, "generator.json"), {
        "name": "realgen-mini-generator", "onnx": "generator.onnx", "size": 64, "channels": 3, "range": [-1, 1],
        "layout": "NCHW", "colorOrder": "RGB",
        "inputs": {"x": "float32 [N,3,64,64]", "sigma": "float32 [N]", "tokens": "int64 [N,96]"},
        "output": {"v": "float32 [N,3,64,64] velocity = eps - x0"},
        "convention": "rectified flow: x_sigma = (1-sigma)*x0 + sigma*eps; sigma=1 pure noise; Euler x' = x + v*(sigma'-sigma)",
        "steps": STEPS, "sigmas": SIGMAS, "shift": None, "sigmaFormula": "linspace(1, 0, 29), no shift",
        "guidance": None, "maxLen": MAXLEN, "tokenizer": "tokenizer.json", "opset": 17,
        "params": int(ck["params"]), "trainSteps": int(ck["step"]), "batch": int(ck["batch"]),
        "trainWallSeconds": round(float(ck["wall_s"]), 1), "finalLoss10": last_loss, "weights": "EMA",
        "seed": SEED, "dataSha256": ck["data_sha256"]})
    print("exported", path, os.path.getsize(path), "steps", ck["step"])


if __name__ == "__main__":
    main()
