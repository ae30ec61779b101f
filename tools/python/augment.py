"""Augmentations applied to BOTH real and fake images for the reward CNN detector."""
import io
import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def augment(arr, rng):
    """arr: uint8 [64,64,3] -> float32 [3,64,64] in [-1,1]."""
    im = Image.fromarray(arr)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.2)))
    if rng.random() < 0.5:
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
        im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.8, 1.2))
        im = ImageEnhance.Color(im).enhance(rng.uniform(0.8, 1.2))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=rng.randint(50, 95))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    x = np.asarray(im, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        x = x + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(0.0, 0.03), x.shape).astype(np.float32)
    x = np.clip(x, 0, 1)
    return ((x - 0.5) / 0.5).transpose(2, 0, 1).astype(np.float32)


def to_input(arr):
    """uint8 [N,64,64,3] -> float32 [N,3,64,64] normalized (x/255-0.5)/0.5."""
    return ((arr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2).copy()
