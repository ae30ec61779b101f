"""Train the tiny image/text dual encoder (InfoNCE, learned temperature) on reward-split pairs."""
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import CACHE, OUT, SEED, MAXLEN, load_images, load_rows, seed_all, split_indices, write_json
import tokenizer as T
from augment import to_input
from models import AlignImage, AlignText


def fix_embedding_dim(path, dim=64):
    """The exporter leaves the embedding width symbolic (F.normalize); pin it to 64 in the graph output."""
    import onnx
    m = onnx.load(path)
    d = m.graph.output[0].type.tensor_type.shape.dim[1]
    d.Clear(); d.dim_value = dim
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed_all(SEED)
    rng = random.Random(SEED)
    rows = load_rows(); sp = split_indices(rows); imgs = load_images()
    tok = T.load(os.path.join(OUT, "tokenizer.json")); desc = T.load(os.path.join(OUT, "descriptors.json"))
    idx = sp["reward"]
    X = torch.from_numpy(to_input(imgs[idx]))
    im_enc, tx_enc = AlignImage(), AlignText(tok["vocabSize"])
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = list(im_enc.parameters()) + list(tx_enc.parameters()) + [logit_scale]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
    B = 128; t0 = time.time(); step = 0; epoch = 0
    while time.time() - t0 < budget:
        order = list(range(len(idx))); rng.shuffle(order)
        tl, tn = 0.0, 0
        for b in range(0, len(order) - B + 1, B):
            bi = order[b:b + B]
            xb = X[bi].clone()
            flip = torch.rand(len(bi)) < 0.5
            xb[flip] = xb[flip].flip(-1)
            toks = torch.tensor([T.encode(tok, T.training_caption(rows[idx[i]], desc, rng),
                                          rows[idx[i]]["category"] if rng.random() < 0.5 else None) for i in bi])
            ie, te = im_enc(xb), tx_enc(toks)
            s = logit_scale.clamp(max=math.log(100)).exp()
            lg = s * te @ ie.t()
            lab = torch.arange(len(bi))
            loss = 0.5 * (F.cross_entropy(lg, lab) + F.cross_entropy(lg.t(), lab))
            opt.zero_grad(); loss.backward(); opt.step(); step += 1
            tl += loss.item(); tn += 1
        epoch += 1
        if epoch % 5 == 0:
            print(f"align epoch {epoch} loss {tl/tn:.4f} temp {1/logit_scale.exp().item():.4f} t={time.time()-t0:.0f}s", flush=True)
    wall = time.time() - t0
    im_enc.eval(); tx_enc.eval()
    torch.save({"image": im_enc.state_dict(), "text": tx_enc.state_dict(), "logit_scale": logit_scale.item()},
               os.path.join(CACHE, "align.pt"))
    torch.onnx.export(im_enc, (torch.randn(2, 3, 64, 64),), os.path.join(OUT, "align-image.onnx"), dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["embedding"], dynamic_axes={"image": {0: "N"}, "embedding": {0: "N"}})
    torch.onnx.export(tx_enc, (torch.randint(0, tok["vocabSize"], (2, MAXLEN)),), os.path.join(OUT, "align-text.onnx"), dynamo=False,
                      opset_version=17, input_names=["tokens"], output_names=["embedding"],
                      dynamic_axes={"tokens": {0: "N"}, "embedding": {0: "N"}})
    fix_embedding_dim(os.path.join(OUT, "align-image.onnx"))
    fix_embedding_dim(os.path.join(OUT, "align-text.onnx"))
    write_json(os.path.join(OUT, "align.json"), {
        "name": "align-mini", "imageOnnx": "align-image.onnx", "textOnnx": "align-text.onnx",
        "image": {"input": "image", "shape": ["N", 3, 64, 64], "dtype": "float32", "layout": "NCHW", "colorOrder": "RGB",
                  "centerCropSquare": True, "resize": [{"size": [64, 64], "mode": "squash"}],
                  "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "output": "embedding", "outputShape": ["N", 64]},
        "text": {"input": "tokens", "shape": ["N", MAXLEN], "dtype": "int64", "tokenizer": "tokenizer.json",
                 "category": "optional (trained with category id present 50% of the time)", "output": "embedding", "outputShape": ["N", 64]},
        "embeddingDim": 64, "normalized": "L2", "score": "cosine similarity = dot(imageEmbedding, textEmbedding)",
        "learnedTemperature": round(1 / math.exp(logit_scale.item()), 5),
        "params": {"image": sum(p.numel() for p in im_enc.parameters()), "text": sum(p.numel() for p in tx_enc.parameters())},
        "trainSteps": step, "epochs": epoch, "batch": B, "trainWallSeconds": round(wall, 1), "finalTrainLoss": tl / max(tn, 1),
        "trainData": f"reward split image/caption pairs ({len(idx)}); caption = short prompt + random 0-4 descriptor phrases present in its long prompt"})
    print("align done", step, wall)


if __name__ == "__main__":
    main()
