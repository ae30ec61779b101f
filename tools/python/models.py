"""PyTorch model definitions for realgen-mini."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


def masked_mean_embed(emb, tokens):
    mask = (tokens != 0).float().unsqueeze(-1)
    e = emb(tokens) * mask
    return e.sum(1) / mask.sum(1).clamp(min=1.0)


def sinusoidal(sigma, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=sigma.device) / half)
    a = (sigma.float() * 1000.0).unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim, groups=8):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.n2 = nn.GroupNorm(groups, cout)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x, c):
        h = self.c1(F.silu(self.n1(x)))
        s, b = self.film(c).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        h = self.n2(h) * (1 + s) + b
        h = self.c2(F.silu(h))
        return h + self.skip(x)


class UNet(nn.Module):
    """Small text-conditioned UNet (64x64). Channels ch/2ch/4ch, 2 down levels."""

    def __init__(self, vocab_size, ch=32, emb_dim=128, cond_dim=128):
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
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

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


class DetectorCNN(nn.Module):
    """Semantic CNN detector: 4 conv layers + GAP + linear -> 2 logits (index 0 = REAL). Input in [-1,1]."""

    def __init__(self, ch=32):
        super().__init__()
        L = []
        cin = 3
        for cout in (ch, 2 * ch, 4 * ch, 4 * ch):
            L += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.SiLU()]
            cin = cout
        self.features = nn.Sequential(*L)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(cin, 2))

    def forward(self, image):
        return self.head(self.features(image).mean(dim=(2, 3)))


def _fixed_kernels():
    """Fixed high-pass filters (3x3 and 5x5, zero-padded to 5x5)."""
    k = []
    blur3 = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16.0
    id3 = torch.zeros(3, 3); id3[1, 1] = 1
    lap = torch.tensor([[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]])
    hdiff = torch.tensor([[0., 0., 0.], [0., 1., -1.], [0., 0., 0.]])
    vdiff = torch.tensor([[0., 0., 0.], [0., 1., 0.], [0., -1., 0.]])
    ddiff = torch.tensor([[0., 0., 0.], [0., 1., 0.], [0., 0., -1.]])
    for m in (id3 - blur3, lap, hdiff, vdiff, ddiff):
        z = torch.zeros(5, 5); z[1:4, 1:4] = m; k.append(z)
    # 5x5 "SQUARE" SRM-style filter
    sq = torch.tensor([[-1., 2., -2., 2., -1.], [2., -6., 8., -6., 2.], [-2., 8., -12., 8., -2.],
                       [2., -6., 8., -6., 2.], [-1., 2., -2., 2., -1.]]) / 12.0
    k.append(sq)
    return torch.stack(k)  # [K,5,5]


class ResidualDetector(nn.Module):
    """Held-out detector: fixed noise-residual statistics + logistic head (index 0 = REAL).

    Features (per colour channel c, per fixed high-pass filter k): log variance, log mean|r|,
    log kurtosis-like E[r^4]/E[r^2]^2; plus cross-channel correlation of the first residual
    (3 pairs). Features are standardised with fixed (stored) mean/std, then a linear layer.
    """

    def __init__(self):
        super().__init__()
        ker = _fixed_kernels()
        self.K = ker.shape[0]
        w = ker.unsqueeze(1).repeat(3, 1, 1, 1)  # [3K,1,5,5], group conv per channel
        self.register_buffer("kernels", w)
        self.n_feat = 3 * self.K * 3 + 3
        self.register_buffer("feat_mean", torch.zeros(self.n_feat))
        self.register_buffer("feat_std", torch.ones(self.n_feat))
        self.linear = nn.Linear(self.n_feat, 1)

    def features(self, image):
        x = image * 0.5 + 0.5  # back to [0,1]
        x = x.repeat_interleave(self.K, dim=1)  # [N,3K,H,W], channel-major
        r = F.conv2d(x, self.kernels, padding=0, groups=3 * self.K)  # valid conv: no border effects
        r = r.flatten(2)
        m2 = (r * r).mean(2) + 1e-8
        m1 = r.abs().mean(2) + 1e-8
        m4 = (r ** 4).mean(2)
        kurt = m4 / (m2 * m2) + 1e-8
        feats = [torch.log(m2), torch.log(m1), torch.log(kurt)]
        r0 = r[:, 0::self.K, :]  # first filter, channels R,G,B
        r0 = r0 - r0.mean(2, keepdim=True)
        n = torch.sqrt((r0 * r0).sum(2) + 1e-8)
        corr = torch.stack([(r0[:, 0] * r0[:, 1]).sum(1) / (n[:, 0] * n[:, 1]),
                            (r0[:, 0] * r0[:, 2]).sum(1) / (n[:, 0] * n[:, 2]),
                            (r0[:, 1] * r0[:, 2]).sum(1) / (n[:, 1] * n[:, 2])], dim=1)
        return torch.cat(feats + [corr], dim=1)

    def forward(self, image):
        f = (self.features(image) - self.feat_mean) / self.feat_std
        z = self.linear(f)  # >0 means FAKE
        return torch.cat([torch.zeros_like(z), z], dim=1)  # logits [real, fake]


class AlignImage(nn.Module):
    def __init__(self, ch=32, dim=64):
        super().__init__()
        L = []
        cin = 3
        for cout in (ch, 2 * ch, 4 * ch, 4 * ch):
            L += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
            cin = cout
        self.features = nn.Sequential(*L)
        self.proj = nn.Linear(cin, dim)

    def forward(self, image):
        return F.normalize(self.proj(self.features(image).mean(dim=(2, 3))), dim=1)


class AlignText(nn.Module):
    def __init__(self, vocab_size, emb_dim=128, dim=64):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(emb_dim, 128), nn.SiLU(), nn.Linear(128, dim))

    def forward(self, tokens):
        return F.normalize(self.mlp(masked_mean_embed(self.tok, tokens)), dim=1)
