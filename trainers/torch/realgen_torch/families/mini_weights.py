"""The realgen-mini generator's PyTorch weights, recovered from models/realgen-mini/generator.onnx.

No .pt or safetensors of the generator was ever committed (tools/python/train_generator.py kept it in a local
cache), so the ONNX initializers are the only copy of the trained (EMA) weights. Most initializers keep their
state_dict names; the GroupNorm affine parameters were folded into `onnx::Mul_*` / `onnx::Add_*` constants of
shape [C,1,1], which are mapped back to `<block>.n1/n2/out_n.weight|bias` by the node that consumes them.

The safetensors file (6.2 MB in float32) is derived, not committed (the repo keeps files under 2 MB): it is written
next to generator.json as `generator.safetensors` (git-ignored) and must hash to the sha256 recorded in
`mini_weights.json` in this package, so every machine gets the same bytes.

    python -m realgen_torch.families.mini_weights --ensure [--generator models/realgen-mini/generator.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "mini_weights.json")
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
DEFAULT_GENERATOR_JSON = os.path.join(REPO, "models", "realgen-mini", "generator.json")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_dict_from_onnx(onnx_path: str) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out: dict[str, np.ndarray] = {}
    for name, arr in inits.items():
        if not name.startswith("onnx::"):
            out[name] = np.ascontiguousarray(arr.astype(np.float32))
    # GroupNorm affine: y = InstanceNorm(...) reshaped, then Mul(gamma[C,1,1]) and Add(beta[C,1,1]).
    for node in model.graph.node:
        if node.op_type not in ("Mul", "Add"):
            continue
        consts = [x for x in node.input if x in inits and x.startswith("onnx::")]
        if not consts:
            continue
        others = [x for x in node.input if x not in consts]
        scope = (node.name or (others[0] if others else "")).strip("/").split("/")
        module = ".".join(scope[:-1])  # e.g. /d1/n1/Mul -> d1.n1
        key = f"{module}.{'weight' if node.op_type == 'Mul' else 'bias'}"
        if not module or key in out:
            raise ValueError(f"{onnx_path}: cannot map initializer {consts[0]} of node {node.name}")
        out[key] = np.ascontiguousarray(inits[consts[0]].reshape(-1).astype(np.float32))
    return out


def safetensors_path(generator_json: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(generator_json)), "generator.safetensors")


def convert(generator_json: str, dest: str | None = None) -> str:
    import torch
    from safetensors.torch import save_file

    from .mini_model import MiniUNet

    with open(generator_json, encoding="utf-8") as f:
        meta = json.load(f)
    onnx_path = os.path.join(os.path.dirname(os.path.abspath(generator_json)), meta["onnx"])
    sd = state_dict_from_onnx(onnx_path)
    vocab = sd["tok.weight"].shape[0]
    model = MiniUNet(vocab)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    if missing or extra:
        raise ValueError(f"ONNX → PyTorch mapping incomplete: missing {missing}, unexpected {extra}")
    tensors = {}
    for k in sorted(expected):
        t = torch.from_numpy(sd[k].copy())
        if tuple(t.shape) != tuple(expected[k].shape):
            raise ValueError(f"{k}: shape {tuple(t.shape)} from ONNX, {tuple(expected[k].shape)} expected")
        tensors[k] = t.contiguous()
    dest = dest or safetensors_path(generator_json)
    tmp = dest + ".tmp"
    # One metadata key only: safetensors keeps the metadata in a Rust HashMap, whose order differs per process, so
    # several keys would make the file's bytes (and its committed sha256) vary run to run. The provenance (the ONNX
    # file's sha256) is in mini_weights.json.
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, dest)
    return dest


def manifest() -> dict:
    with open(MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def ensure(generator_json: str = DEFAULT_GENERATOR_JSON) -> str:
    """The weights file, converted from the ONNX model when missing or stale; checked against the manifest."""
    path = safetensors_path(generator_json)
    want = manifest()["sha256"] if os.path.exists(MANIFEST) else None
    if not os.path.exists(path) or (want and sha256_file(path) != want):
        convert(generator_json, path)
    got = sha256_file(path)
    if want and got != want:
        raise ValueError(f"{path}: sha256 {got} does not match {MANIFEST} ({want}); generator.onnx changed?")
    return path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m realgen_torch.families.mini_weights")
    ap.add_argument("--generator", default=DEFAULT_GENERATOR_JSON)
    ap.add_argument("--ensure", action="store_true", help="convert if missing, verify the sha256")
    ap.add_argument("--write-manifest", action="store_true", help="(maintainers) record the sha256 of a fresh conversion")
    a = ap.parse_args(argv)
    if a.write_manifest:
        path = convert(a.generator)
        onnx_path = os.path.join(os.path.dirname(os.path.abspath(a.generator)), "generator.onnx")
        with open(MANIFEST, "w", encoding="utf-8") as f:
            json.dump({"file": "generator.safetensors", "sha256": sha256_file(path), "bytes": os.path.getsize(path),
                       "onnx": "generator.onnx", "onnxSha256": sha256_file(onnx_path)}, f, indent=1)
            f.write("\n")
        print(f"wrote {MANIFEST}")
        return 0
    path = ensure(a.generator)
    print(f"realgen-mini weights: {path} ({os.path.getsize(path)} bytes, sha256 {sha256_file(path)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
