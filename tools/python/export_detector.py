#!/usr/bin/env python3
"""Export a PyTorch synthetic-image detector to ONNX plus a realgen detector manifest, and check that ONNX Runtime
and PyTorch agree on a few images.

The detector's code stays where it is: `--module-path` adds a folder (e.g. your RealGen checkout) to sys.path and
`--factory module:function` names a callable returning the torch.nn.Module (a class works too). Nothing is copied.

The manifest follows infra/detectors/detector-manifest.ts (strict): name, role, onnx, input {name, size, layout NCHW,
colorOrder, resize [{size, mode squash|cover, kernel?}], scale, mean, std}, output {name, kind logits|probabilities|
sigmoid, realIndex}, description?, license?, info?. Describe the preprocessing the detector was TRAINED with: the
reward service and the evaluator apply exactly the manifest's chain before calling the graph.

Example (the realgen-mini CNN):
  .tools/pyvenv/bin/python tools/python/export_detector.py \\
    --module-path tools/python --factory models:DetectorCNN \\
    --weights .tools/realgen-cache/detector-cnn.pt \\
    --name cnn-semantic --role reward --size 64 64 --resize cover:64x64:lanczos3 \\
    --mean 0.5 0.5 0.5 --std 0.5 0.5 0.5 --output-kind logits --real-index 0 \\
    --check-images ../shared/realbench-data/images --out-dir /tmp/cnn-export

Exit status: 0 when exported and the check passed, 1 on a disagreement, 2 on bad arguments.
Not run in CI (needs torch, onnx and onnxruntime: `pip install -r tools/python/requirements.txt`).
"""
import argparse
import importlib
import json
import math
import os
import sys

KERNELS = ("nearest", "linear", "cubic", "lanczos3")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def die(msg):
    print(f"export_detector: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_resize(spec):
    """`mode:HxW[:kernel]`, e.g. `cover:224x224:cubic` or `squash:256x256`."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("squash", "cover"):
        die(f"--resize {spec!r}: expected mode:HxW[:kernel] with mode squash|cover")
    try:
        h, w = (int(x) for x in parts[1].lower().split("x"))
    except ValueError:
        die(f"--resize {spec!r}: expected a size like 224x224")
    step = {"size": [h, w], "mode": parts[0]}
    if len(parts) == 3:
        if parts[2] not in KERNELS:
            die(f"--resize {spec!r}: kernel must be one of {'|'.join(KERNELS)}")
        step["kernel"] = parts[2]
    return step


def load_factory(module_paths, factory, kwargs):
    for p in module_paths:
        p = os.path.abspath(p)
        if not os.path.isdir(p):
            die(f"--module-path {p} is not a folder")
        if p not in sys.path:
            sys.path.insert(0, p)
    if ":" not in factory:
        die(f"--factory {factory!r}: expected module:function (e.g. models:DetectorCNN)")
    mod_name, attr = factory.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        die(f"cannot import {mod_name!r} (module paths: {module_paths}): {e}")
    fn = mod
    for part in attr.split("."):
        if not hasattr(fn, part):
            die(f"{mod_name} has no attribute {attr!r}")
        fn = getattr(fn, part)
    return fn(**kwargs)


def load_weights(model, path, state_key, strict):
    import torch
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        return obj
    if state_key:
        for k in state_key.split("."):
            obj = obj[k]
    elif isinstance(obj, dict) and not any(hasattr(v, "shape") for v in obj.values()):
        for k in ("state_dict", "model", "model_state_dict", "ema"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    # DataParallel / DDP prefixes
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    missing, unexpected = model.load_state_dict(obj, strict=strict)
    if missing or unexpected:
        print(f"warning: missing keys {list(missing)[:8]}, unexpected keys {list(unexpected)[:8]}", file=sys.stderr)
    return model


# --- preprocessing exactly as the manifest describes (for feeding both runtimes the same tensors) ---

def _pil_kernel(name):
    from PIL import Image
    return {"nearest": Image.NEAREST, "linear": Image.BILINEAR, "cubic": Image.BICUBIC, "lanczos3": Image.LANCZOS}[name or "lanczos3"]


def preprocess(img, manifest):
    import numpy as np
    from PIL import Image
    inp = manifest["input"]
    img = img.convert("RGB")
    for step in inp["resize"]:
        h, w = step["size"]
        if step["mode"] == "cover":
            # centre-crop to the target aspect, then resize
            sw, sh = img.size
            scale = max(w / sw, h / sh)
            cw, ch = round(w / scale), round(h / scale)
            left, top = (sw - cw) // 2, (sh - ch) // 2
            img = img.crop((left, top, left + cw, top + ch))
        img = img.resize((w, h), _pil_kernel(step.get("kernel")))
    x = np.asarray(img, dtype=np.float32)
    if inp["colorOrder"] == "BGR":
        x = x[..., ::-1]
    x = x * inp["scale"]
    x = (x - np.array(inp["mean"], dtype=np.float32)) / np.array(inp["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None].astype(np.float32)


def p_real(out, kind, real_index):
    import numpy as np
    out = np.asarray(out, dtype=np.float64).reshape(out.shape[0], -1)
    if kind == "logits":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, real_index]
    if kind == "probabilities":
        return out[:, real_index]
    return 1 / (1 + np.exp(-out[:, 0]))


def check_images(paths, limit):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXT))
        else:
            files.append(p)
    return files[:limit]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module-path", action="append", default=[], help="folder added to sys.path (repeatable), e.g. your RealGen checkout")
    ap.add_argument("--factory", required=True, help="module:function (or class) returning the torch.nn.Module")
    ap.add_argument("--factory-kwargs", default="{}", help="JSON object of keyword arguments for the factory")
    ap.add_argument("--weights", help="state dict (or pickled module) to load; omit when the factory loads its own")
    ap.add_argument("--state-key", help="dotted key of the state dict inside the checkpoint (e.g. model or state_dict)")
    ap.add_argument("--non-strict", action="store_true", help="load_state_dict(strict=False)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--role", choices=("reward", "heldout"), required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--onnx-name", help="ONNX file name (default <name>.onnx)")
    ap.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), required=True)
    ap.add_argument("--color-order", choices=("RGB", "BGR"), default="RGB")
    ap.add_argument("--resize", action="append", default=[], help="resize step mode:HxW[:kernel], in order (repeatable); default cover:<size>:lanczos3")
    ap.add_argument("--scale", type=float, default=1 / 255)
    ap.add_argument("--mean", type=float, nargs=3, required=True)
    ap.add_argument("--std", type=float, nargs=3, required=True)
    ap.add_argument("--input-name", default="image")
    ap.add_argument("--output-name", default="logits")
    ap.add_argument("--output-kind", choices=("logits", "probabilities", "sigmoid"), required=True)
    ap.add_argument("--real-index", type=int, required=True, help="index of the REAL class on the last axis (0 for sigmoid)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--description")
    ap.add_argument("--license")
    ap.add_argument("--info", default="{}", help="JSON object stored as manifest.info (provenance, metrics)")
    ap.add_argument("--check-images", nargs="*", default=[], help="image files or folders for the agreement check")
    ap.add_argument("--check-count", type=int, default=8)
    ap.add_argument("--atol", type=float, default=1e-4, help="largest allowed |onnx - torch| on the raw output")
    args = ap.parse_args()

    try:
        kwargs = json.loads(args.factory_kwargs)
        info = json.loads(args.info)
    except json.JSONDecodeError as e:
        die(f"--factory-kwargs/--info: invalid JSON ({e})")
    if args.output_kind == "sigmoid" and args.real_index != 0:
        die("--real-index must be 0 for --output-kind sigmoid")
    if any(s <= 0 for s in args.std):
        die("--std values must be positive")
    resize = [parse_resize(r) for r in args.resize] or [{"size": list(args.size), "mode": "cover", "kernel": "lanczos3"}]
    if resize[-1]["size"] != list(args.size):
        die(f"the last --resize step gives {resize[-1]['size']}, but --size is {list(args.size)}")

    import numpy as np
    import torch
    import onnxruntime as ort
    from PIL import Image

    model = load_factory(args.module_path, args.factory, kwargs)
    if not isinstance(model, torch.nn.Module):
        die(f"{args.factory} returned {type(model).__name__}, not a torch.nn.Module")
    if args.weights:
        model = load_weights(model, args.weights, args.state_key, not args.non_strict)
    model.eval()

    os.makedirs(args.out_dir, exist_ok=True)
    onnx_name = args.onnx_name or f"{args.name}.onnx"
    onnx_path = os.path.join(args.out_dir, onnx_name)
    h, w = args.size
    dummy = torch.zeros(2, 3, h, w)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), onnx_path, dynamo=False, opset_version=args.opset, input_names=[args.input_name],
                          output_names=[args.output_name], dynamic_axes={args.input_name: {0: "N"}, args.output_name: {0: "N"}})

    manifest = {
        "name": args.name,
        "role": args.role,
        "onnx": onnx_name,
        "input": {"name": args.input_name, "size": [h, w], "layout": "NCHW", "colorOrder": args.color_order,
                  "resize": resize, "scale": args.scale, "mean": list(args.mean), "std": list(args.std)},
        "output": {"name": args.output_name, "kind": args.output_kind, "realIndex": args.real_index},
    }
    if args.description:
        manifest["description"] = args.description
    if args.license:
        manifest["license"] = args.license

    # --- agreement check: same tensors through PyTorch and ONNX Runtime ---
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    out_shape = sess.get_outputs()[0].shape
    batches = []
    names = []
    for f in check_images(args.check_images, args.check_count):
        with Image.open(f) as img:
            batches.append(preprocess(img, manifest))
        names.append(os.path.basename(f))
    rng = np.random.default_rng(0)
    for i in range(2):  # plus synthetic inputs, so the check runs even without images
        img = Image.fromarray(rng.integers(0, 256, size=(h + 17 * i, w + 9 * i, 3), dtype=np.uint8))
        batches.append(preprocess(img, manifest))
        names.append(f"<noise {i}>")
    x = np.concatenate(batches, axis=0)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).float().numpy()
    got = sess.run([args.output_name], {args.input_name: x})[0]
    if ref.shape != got.shape:
        print(f"FAIL: output shapes differ: torch {ref.shape}, onnx {got.shape}", file=sys.stderr)
        sys.exit(1)
    if args.output_kind in ("logits", "probabilities") and got.shape[-1] <= args.real_index:
        die(f"--real-index {args.real_index} is out of range for an output of shape {got.shape}")
    diff = float(np.abs(ref - got).max())
    pr_t, pr_o = p_real(ref, args.output_kind, args.real_index), p_real(got, args.output_kind, args.real_index)
    pdiff = float(np.abs(pr_t - pr_o).max())
    print(f"{'input':<28} {'P(real) torch':>14} {'P(real) onnx':>14}")
    for n, a, b in zip(names, pr_t, pr_o):
        print(f"{n[:28]:<28} {a:14.6f} {b:14.6f}")
    print(f"max |onnx - torch| raw output: {diff:.3g} (atol {args.atol}), P(real): {pdiff:.3g}; output shape {list(got.shape)} (graph {out_shape})")

    info = dict(info)
    info.setdefault("exportedFrom", args.factory)
    if args.weights:
        info.setdefault("weights", os.path.basename(args.weights))
    info["onnxCheck"] = {"inputs": len(names), "maxAbsDiff": diff, "maxPRealDiff": pdiff, "opset": args.opset}
    manifest["info"] = info
    manifest_path = os.path.join(args.out_dir, f"{args.name}.json")
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    print(f"wrote {onnx_path} and {manifest_path}")
    if not math.isfinite(diff) or diff > args.atol:
        print(f"FAIL: ONNX and PyTorch disagree by {diff:.3g} > atol {args.atol}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
