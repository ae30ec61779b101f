"""Verify every ONNX file against PyTorch, compute held-out metrics, write grids and metrics.json."""
import json
import os
import random

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from common import CACHE, OUT, SEED, MAXLEN, load_images, load_rows, seed_all, split_indices, sha256_file, write_json, read_json
import tokenizer as T
from augment import to_input
from export_generator import load_generator
from sample_fakes import sample
from models import DetectorCNN, ResidualDetector, AlignImage, AlignText


def auc(scores_real, scores_fake):
    """ROC-AUC with P(fake) scores; fake is the positive class (ties count 1/2)."""
    r = np.asarray(scores_real)[:, None]; f = np.asarray(scores_fake)[None, :]
    return float((f > r).mean() + 0.5 * (f == r).mean())


def sess(name):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(OUT, name), o, providers=["CPUExecutionProvider"])


def softmax_fake(logits):
    l = logits - logits.max(1, keepdims=True)
    e = np.exp(l)
    return e[:, 1] / e.sum(1)


def grid(arr, cols, path):
    n = len(arr); rows_ = (n + cols - 1) // cols
    g = np.full((rows_ * 66, cols * 66, 3), 255, np.uint8)
    for k, a in enumerate(arr):
        r, c = divmod(k, cols)
        g[r * 66 + 1:r * 66 + 65, c * 66 + 1:c * 66 + 65] = a
    Image.fromarray(g).save(path, optimize=True)


def main():
    seed_all(SEED)
    rows = load_rows(); sp = split_indices(rows); imgs = load_images()
    tok = T.load(os.path.join(OUT, "tokenizer.json"))
    rng = np.random.default_rng(SEED)
    verify = {}
    # generator
    gen, ck, _ = load_generator()
    x = torch.randn(4, 3, 64, 64); s = torch.tensor([1.0, 0.75, 0.3, 0.0])
    t = torch.tensor([T.encode(tok, rows[i]["prompt"], rows[i]["category"]) for i in sp["heldout"][:4]])
    with torch.no_grad():
        ref = gen(x, s, t).numpy()
    out = sess("generator.onnx").run(None, {"x": x.numpy(), "sigma": s.numpy(), "tokens": t.numpy()})[0]
    verify["generator.onnx"] = float(np.abs(out - ref).max())
    # detectors
    cnn = DetectorCNN(ch=32); cnn.load_state_dict(torch.load(os.path.join(CACHE, "detector-cnn.pt"))); cnn.eval()
    res = ResidualDetector(); res.load_state_dict(torch.load(os.path.join(CACHE, "detector-residual.pt"))); res.eval()
    xi = torch.from_numpy(to_input(imgs[sp["heldout"][:4]]))
    for name, m in (("detector-cnn.onnx", cnn), ("detector-residual.onnx", res)):
        with torch.no_grad():
            ref = m(xi).numpy()
        out = sess(name).run(None, {"image": xi.numpy()})[0]
        verify[name] = float(np.abs(out - ref).max())
    al = torch.load(os.path.join(CACHE, "align.pt"))
    ai = AlignImage(); ai.load_state_dict(al["image"]); ai.eval()
    at = AlignText(tok["vocabSize"]); at.load_state_dict(al["text"]); at.eval()
    with torch.no_grad():
        verify["align-image.onnx"] = float(np.abs(sess("align-image.onnx").run(None, {"image": xi.numpy()})[0] - ai(xi).numpy()).max())
        verify["align-text.onnx"] = float(np.abs(sess("align-text.onnx").run(None, {"tokens": t.numpy()})[0] - at(t).numpy()).max())
    print("verify max abs diff", verify)

    # held-out evaluation (ONNX models, as the TS side will run them)
    real_h = to_input(imgs[sp["heldout"]])
    fakeC = np.load(os.path.join(CACHE, "fakes_C.npy")); metaC = json.load(open(os.path.join(CACHE, "fakes_C.json")))
    fake_h = to_input(fakeC)
    metrics = {"evaluation_set": f"heldout split: {len(real_h)} real photos vs {len(fake_h)} generator samples (seed range C, heldout captions); no model trained on either"}
    for name in ("detector-cnn.onnx", "detector-residual.onnx"):
        se = sess(name)
        pr = softmax_fake(se.run(None, {"image": real_h})[0]); pf = softmax_fake(se.run(None, {"image": fake_h})[0])
        metrics[name] = {"heldout_roc_auc": auc(pr, pf), "acc_at_0.5": float(((pr < 0.5).sum() + (pf >= 0.5).sum()) / (len(pr) + len(pf))),
                         "mean_p_fake_real": float(pr.mean()), "mean_p_fake_fake": float(pf.mean())}
    # cross: cnn on residual's training data and vice versa (not held out for the other model's own data)
    si, stx = sess("align-image.onnx"), sess("align-text.onnx")
    ie = si.run(None, {"image": real_h})[0]
    res_align = {}
    for label, withcat in (("short_prompt_with_category", True), ("short_prompt_no_category", False)):
        tk = np.array([T.encode(tok, rows[i]["prompt"], rows[i]["category"] if withcat else None) for i in sp["heldout"]], np.int64)
        te = stx.run(None, {"tokens": tk})[0]
        sim = te @ ie.T
        ranks = (sim > np.diag(sim)[:, None]).sum(1)
        res_align[label] = {"recall@1": float((ranks < 1).mean()), "recall@5": float((ranks < 5).mean()),
                            "recall@10": float((ranks < 10).mean()), "median_rank": float(np.median(ranks) + 1)}
    # alignment of generated samples: cosine(gen C image, its caption) vs shuffled captions
    tkC = np.array([T.encode(tok, c, rows[i]["category"]) for c, i in zip(metaC["captions"], metaC["indices"])], np.int64)
    teC = stx.run(None, {"tokens": tkC})[0]; ieC = si.run(None, {"image": fake_h})[0]
    simC = teC @ ieC.T
    res_align["generated_C_caption_cosine_matched_mean"] = float(np.diag(simC).mean())
    res_align["generated_C_caption_cosine_mismatched_mean"] = float((simC.sum() - np.trace(simC)) / (simC.size - len(simC)))
    ranksC = (simC > np.diag(simC)[:, None]).sum(1)
    res_align["generated_C_recall@5"] = float((ranksC < 5).mean())
    res_align["chance_recall@5"] = 5 / len(real_h)
    metrics["align"] = {"pairs": len(real_h), "caption_to_image": res_align}
    metrics["onnx_vs_torch_max_abs_diff"] = verify
    metrics["data_sha256_images64"] = sha256_file(os.path.join(CACHE, "images64.npy"))

    # grids: 32 heldout captions, generated (C) and matching real photos
    grid(fakeC[:32], 8, os.path.join(OUT, "samples-grid.png"))
    grid(imgs[sp["heldout"][:32]], 8, os.path.join(OUT, "real-grid.png"))
    # descriptor response: same seeds, 8 heldout short prompts, 4 descriptor settings (rows)
    settings = ["", ", slight grain, touch of noise, fine grain", ", shallow depth of field, bokeh", ", motion blur, edge softness, vignetting"]
    ids = sp["heldout"][:8]
    tk = torch.tensor([T.encode(tok, rows[i]["prompt"] + sset, rows[i]["category"]) for sset in settings for i in ids])
    seeds = [400000 + k for _ in settings for k in range(8)]
    dimg = sample(gen, tk, seeds, batch=32)
    grid(dimg, 8, os.path.join(OUT, "descriptor-grid.png"))
    lap = []
    for r_ in range(len(settings)):
        a = dimg[r_ * 8:(r_ + 1) * 8].astype(np.float32) / 255
        l = 4 * a[:, 1:-1, 1:-1] - a[:, :-2, 1:-1] - a[:, 2:, 1:-1] - a[:, 1:-1, :-2] - a[:, 1:-1, 2:]
        lap.append(float((l ** 2).mean()))
    metrics["descriptor_response"] = {"rows": ["(none)"] + [s_.strip(", ") for s_ in settings[1:]],
                                      "mean_laplacian_energy": lap, "note": "same 8 heldout prompts and seeds per row; see descriptor-grid.png"}
    # real vs fake simple statistics for the card
    metrics["pixel_stats"] = {"real_heldout_mean": float(imgs[sp["heldout"]].mean() / 255), "fake_C_mean": float(fakeC.mean() / 255),
                              "real_heldout_std": float(imgs[sp["heldout"]].std() / 255), "fake_C_std": float(fakeC.std() / 255)}
    write_json(os.path.join(OUT, "metrics.json"), metrics)
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
