"""A port of lib/random.ts `Rng` (xoshiro128** seeded through splitmix32, Box–Muller normals in a fixed pairing
order), so that the sampler draws the same initial noise as the TypeScript evaluation generator
(infra/mini/checkpoint-generator.ts: `Rng.fromSeed(seed, 'realbench-eval', id)`). An image then depends only on
(seed, item id) and the model, and evaluation rows of a torch checkpoint pair with the base generator's.

Only what the evaluation noise needs is ported: `from_seed`, `next_u32`, `uniform`, `normal`, `fill_normal`. The
arithmetic is the JavaScript one (unsigned 32-bit words, `Math.imul`, float64), so the numbers agree to the last
bit up to the platform's `log`/`sin`/`cos` (then rounded to float32, as `Float32Array` stores them).
"""
from __future__ import annotations

import math

import numpy as np

_M = 0xFFFFFFFF
# Number.MIN_VALUE: the smallest positive double (denormal).
_JS_MIN_VALUE = 5e-324


def _imul(a: int, b: int) -> int:
    return (a * b) & _M


def _splitmix32(seed: int):
    x = seed & _M

    def nxt() -> int:
        nonlocal x
        x = (x + 0x9E3779B9) & _M
        z = x
        z = _imul(z ^ (z >> 16), 0x85EBCA6B)
        z = _imul(z ^ (z >> 13), 0xC2B2AE35)
        return (z ^ (z >> 16)) & _M

    return nxt


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


class TsRng:
    def __init__(self, s: list[int]):
        self.s = s
        self.spare: float | None = None

    @staticmethod
    def from_seed(seed: int, *streams: int | str) -> "TsRng":
        """`Rng.fromSeed(seed, ...streams)`; a stream's characters are its UTF-16 code units, as `charCodeAt`."""
        mixed = seed & _M
        for stream in streams:
            text = str(stream)
            units = text.encode("utf-16-le")
            for i in range(0, len(units), 2):
                mixed = _imul(mixed ^ (units[i] | (units[i + 1] << 8)), 0x01000193)
            mixed = _splitmix32(mixed)()
        sm = _splitmix32(mixed)
        s = [sm(), sm(), sm(), sm()]
        if (s[0] | s[1] | s[2] | s[3]) == 0:
            s[0] = 1
        return TsRng(s)

    def next_u32(self) -> int:
        s = self.s
        result = _imul(_rotl(_imul(s[1], 5), 7), 9)
        t = (s[1] << 9) & _M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def uniform(self) -> float:
        hi = self.next_u32() >> 5
        lo = self.next_u32() >> 6
        return (hi * 67108864 + lo) / 9007199254740992

    def normal(self) -> float:
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u = self.uniform()
        while u <= _JS_MIN_VALUE:
            u = self.uniform()
        v = self.uniform()
        r = math.sqrt(-2 * math.log(u))
        self.spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)

    def fill_normal(self, n: int) -> np.ndarray:
        """`fillNormal(new Float32Array(n))`: n normal draws rounded to float32."""
        return np.array([self.normal() for _ in range(n)], dtype=np.float64).astype(np.float32)


def eval_noise(seed: int, item_id: str, n: int) -> np.ndarray:
    """The evaluation's initial noise of one item (n float32 values, in the generator's NCHW element order)."""
    return TsRng.from_seed(seed, "realbench-eval", item_id).fill_normal(n)
