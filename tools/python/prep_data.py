"""Decode each RealBench photo, center-crop square, resize to 64x64 (LANCZOS), cache uint8."""
import os
import numpy as np
from PIL import Image
from common import DATA, CACHE, SIZE, OUT, load_rows, split_indices, sha256_file, write_json


def center_crop_square(im):
    w, h = im.size
    s = min(w, h)
    left = (w - s) // 2
    top = (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def main():
    rows = load_rows()
    arr = np.zeros((len(rows), SIZE, SIZE, 3), np.uint8)
    for i, r in enumerate(rows):
        assert r["index"] == i
        im = Image.open(os.path.join(DATA, r["file"])).convert("RGB")
        im = center_crop_square(im).resize((SIZE, SIZE), Image.LANCZOS)
        arr[i] = np.asarray(im)
    path = os.path.join(CACHE, "images64.npy")
    np.save(path, arr)
    s = split_indices(rows)
    write_json(os.path.join(OUT, "split.json"), {
        "rule": "by RealBench index: heldout = index%10==0; reward = index%10 in 1..6; heldout_detector = index%10 in 7..9",
        "generator_train": "reward + heldout_detector (all non-heldout indices)",
        "reward_cnn_detector_train": "reward (real) vs generator samples for reward captions, seed range A",
        "alignment_train": "reward",
        "heldout_detector_train": "heldout_detector (real) vs generator samples for heldout_detector captions, seed range B",
        "evaluation": "heldout (real) vs generator samples for heldout captions, seed range C; never used in any training",
        "preprocess": "PIL decode, convert RGB, center-crop square, resize 64x64 LANCZOS, uint8",
        "counts": {k: len(v) for k, v in s.items()},
        "heldout": s["heldout"], "reward": s["reward"], "heldout_detector": s["heldout_detector"],
    })
    print("cached", arr.shape, "sha256", sha256_file(path), {k: len(v) for k, v in s.items()})


if __name__ == "__main__":
    main()
