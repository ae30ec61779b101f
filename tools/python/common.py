"""Shared paths, split and helpers for the realgen-mini build (not run in CI)."""
import hashlib
import json
import os
import random

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("REALBENCH_DATA", os.path.join(ROOT, "..", "shared", "realbench-data"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/realbench-data"
OUT = os.environ.get("REALGEN_OUT", os.path.join(ROOT, "models", "realgen-mini"))
CACHE = os.environ.get("REALGEN_CACHE", os.path.join(ROOT, ".tools", "realgen-cache"))
SEED = 1234
SIZE = 64
MAXLEN = 96
os.makedirs(OUT, exist_ok=True)
os.makedirs(CACHE, exist_ok=True)


def seed_all(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
        torch.set_num_threads(1)
    except ImportError:
        pass


def load_rows():
    rows = []
    with open(os.path.join(DATA, "realbench.jsonl"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    rows.sort(key=lambda r: r["index"])
    return rows


def split_of(index):
    m = index % 10
    if m == 0:
        return "heldout"
    if m in (1, 2, 3, 4, 5, 6):
        return "reward"
    return "heldout_detector"


def split_indices(rows):
    s = {"heldout": [], "reward": [], "heldout_detector": []}
    for r in rows:
        s[split_of(r["index"])].append(r["index"])
    return s


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_images():
    """uint8 [1041,64,64,3] cache written by prep_data.py."""
    return np.load(os.path.join(CACHE, "images64.npy"))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
