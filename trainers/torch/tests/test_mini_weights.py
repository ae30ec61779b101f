"""The realgen-mini generator in PyTorch, with weights recovered from generator.onnx, equals the ONNX model."""
import json
import os

import numpy as np
import onnxruntime as ort
import torch
from safetensors.torch import load_file

from helpers import REPO
from realgen_torch.data import MiniTokenizer
from realgen_torch.families.mini_model import MiniUNet
from realgen_torch.families.mini_weights import MANIFEST, ensure, sha256_file

GEN = os.path.join(REPO, "models", "realgen-mini", "generator.json")


def test_weights_match_manifest():
    path = ensure(GEN)
    with open(MANIFEST) as f:
        m = json.load(f)
    assert sha256_file(path) == m["sha256"]
    assert sha256_file(os.path.join(REPO, "models", "realgen-mini", "generator.onnx")) == m["onnxSha256"]


def test_conversion_gives_the_manifest_bytes_in_every_process(tmp_path):
    # Separate processes: safetensors' metadata order used to vary per process (a Rust HashMap), so the sha256
    # matched the manifest only by chance.
    import subprocess
    import sys

    with open(MANIFEST) as f:
        want = json.load(f)["sha256"]
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for i in range(4):
        dest = str(tmp_path / f"gen-{i}.safetensors")
        code = f"from realgen_torch.families.mini_weights import convert; convert({GEN!r}, {dest!r})"
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": pkg})
        assert sha256_file(dest) == want, f"conversion {i} differs from the manifest"


def test_pytorch_output_equals_onnx_within_1e_4():
    sd = load_file(ensure(GEN))
    net = MiniUNet(sd["tok.weight"].shape[0])
    net.load_state_dict(sd)
    net.eval()
    tok = MiniTokenizer(os.path.join(REPO, "models", "realgen-mini", "tokenizer.json"))
    g = torch.Generator().manual_seed(7)
    x = torch.randn(4, 3, 64, 64, generator=g)
    sigma = torch.tensor([1.0, 0.7142857142857143, 0.25, 0.03571428571428581])
    tokens = torch.tensor([tok.encode("a red cat on a sofa", "animals"), tok.encode("an old stone church at dusk", "buildings"),
                           tok.encode("", None), tok.encode("portrait of a woman, soft window light, fine pores", "people")])
    with torch.no_grad():
        v = net(x, sigma, tokens).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(REPO, "models", "realgen-mini", "generator.onnx"), so, providers=["CPUExecutionProvider"])
    vo = sess.run(None, {"x": x.numpy(), "sigma": sigma.numpy(), "tokens": tokens.numpy()})[0]
    diff = float(np.abs(v - vo).max())
    print(f"max |PyTorch − ONNX| = {diff:.3g} (max |v| = {float(np.abs(vo).max()):.3g})")
    assert diff < 1e-4


def test_tokenizer_matches_fixtures():
    tok = MiniTokenizer(os.path.join(REPO, "models", "realgen-mini", "tokenizer.json"))
    with open(os.path.join(REPO, "models", "realgen-mini", "tokenizer-fixtures.json")) as f:
        fx = json.load(f)
    for case in fx["fixtures"]:
        assert tok.encode(case["text"], case.get("category")) == case["ids"]
