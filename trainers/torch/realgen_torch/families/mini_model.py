"""The realgen-mini generator in PyTorch: the same architecture as tools/python/models.py (UNet), which built
models/realgen-mini/generator.onnx. Kept here so the trainer package does not import the build tools."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def masked_mean_embed(emb: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
    mask = (tokens != 0).float().unsqueeze(-1)
    e = emb(tokens) * mask
    return e.sum(1) / mask.sum(1).clamp(min=1.0)


def sinusoidal(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=sigma.device) / half)
    a = (sigma.float() * 1000.0).unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int, groups: int = 8):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.n2 = nn.GroupNorm(groups, cout)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, c):
        h = self.c1(F.silu(self.n1(x)))
        s, b = self.film(c).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        h = self.n2(h) * (1 + s) + b
        h = self.c2(F.silu(h))
        return h + self.skip(x)


class MiniUNet(nn.Module):
    """Text-conditioned UNet on 3×64×64 pixels; forward(x, sigma, tokens) → velocity v = ε − x0."""

    def __init__(self, vocab_size: int, ch: int = 32, emb_dim: int = 128, cond_dim: int = 128):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.text_mlp = nn.Sequential(nn.Linear(emb_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.time_mlp = nn.Sequential(nn.Linear(64, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        self.cond_act = nn.SiLU()
        c1, c2, c3 = ch, 2 * ch, 4 * ch
        self.inp = nn.Conv2d(3, c1, 3, padding=1)
        self.d1 = ResBlock(c1, c1, cond_dim)
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.d2 = ResBlock(c2, c2, cond_dim)
        self.down2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.m1 = ResBlock(c3, c3, cond_dim)
        self.m2 = ResBlock(c3, c3, cond_dim)
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c3, c2, 3, padding=1))
        self.u2 = ResBlock(2 * c2, c2, cond_dim)
        self.up1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c2, c1, 3, padding=1))
        self.u1 = ResBlock(2 * c1, c1, cond_dim)
        self.out_n = nn.GroupNorm(8, c1)
        self.out = nn.Conv2d(c1, 3, 3, padding=1)

    def cond(self, sigma, tokens):
        t = self.time_mlp(sinusoidal(sigma, 64))
        e = self.text_mlp(masked_mean_embed(self.tok, tokens))
        return self.cond_act(t + e)

    def forward(self, x, sigma, tokens):
        c = self.cond(sigma, tokens)
        h0 = self.d1(self.inp(x), c)
        h1 = self.d2(self.down1(h0), c)
        h = self.down2(h1)
        h = self.m2(self.m1(h, c), c)
        h = self.u2(torch.cat([self.up2(h), h1], 1), c)
        h = self.u1(torch.cat([self.up1(h), h0], 1), c)
        return self.out(F.silu(self.out_n(h)))
