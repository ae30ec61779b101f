"""The PPO/GRPO clipped surrogate (domain/grpo/surrogate.ts, mini-grpo-math §2) and its GRPO-Guard variant
(RealGen V1 `train_flux_fast_guard.py`, `rationorm`), in torch so that autograd gives the gradient.

Plain:  ρ = exp(ℓ_θ − ℓ_old);  L = mean max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)).
Guard:  with s = mean(sqrt(−dt))·mean(s_t) over the batch and the mean-shift term
        b = mean_elements((μ_θ − μ_old)²) / (2 s²),
        ρ = exp((ℓ_θ − ℓ_old + b)·s),  L = mean max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) / mean(sqrt(−dt))².
Diagnostics as the official code: clipfrac = mean(|ρ − 1| > ε), approx KL = 0.5·mean((ℓ_θ − ℓ_old)²).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class SurrogateOut:
    loss: torch.Tensor  # scalar, differentiable
    ratio: torch.Tensor  # per sample, detached
    log_ratio: torch.Tensor  # per sample, detached
    clipfrac: float
    inactive_frac: float
    approx_kl: float


def clipped_surrogate(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float,
                      guard: dict | None = None) -> SurrogateOut:
    """`guard`: None for the plain surrogate, else {mu, old_mu, st, sqrt_dt} (tensors or floats) for GRPO-Guard."""
    if not (math.isfinite(clip_range) and clip_range >= 0):
        raise ValueError(f"surrogate: clip range must be finite and ≥ 0, got {clip_range}")
    log_ratio = log_prob - old_log_prob
    if guard is None:
        ratio = torch.exp(log_ratio)
        norm = 1.0
    else:
        sqrt_dt = torch.as_tensor(guard["sqrt_dt"], dtype=log_prob.dtype).mean()
        st = torch.as_tensor(guard["st"], dtype=log_prob.dtype).mean()
        scale = sqrt_dt * st
        bias = (guard["mu"] - guard["old_mu"]).pow(2).flatten(1).mean(1) / (2 * scale * scale)
        ratio = torch.exp((log_ratio + bias) * scale)
        norm = sqrt_dt * sqrt_dt
    adv = advantages.to(log_prob.dtype)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = torch.mean(torch.maximum(unclipped, clipped)) / norm
    with torch.no_grad():
        r = ratio.detach()
        inactive = ((adv > 0) & (r > 1 + clip_range)) | ((adv < 0) & (r < 1 - clip_range))
        out = SurrogateOut(
            loss=loss,
            ratio=r,
            log_ratio=log_ratio.detach(),
            clipfrac=float((torch.abs(r - 1.0) > clip_range).float().mean()),
            inactive_frac=float(inactive.float().mean()),
            approx_kl=float(0.5 * (log_ratio.detach() ** 2).mean()),
        )
    return out


def surrogate_term(log_prob: float, old_log_prob: float, advantage: float, clip_range: float) -> dict:
    """One scalar term in float64 with the TS field names (for the cross-check fixtures): loss, coef, ratio, ..."""
    lp = torch.tensor([log_prob], dtype=torch.float64, requires_grad=True)
    out = clipped_surrogate(lp, torch.tensor([old_log_prob], dtype=torch.float64), torch.tensor([advantage], dtype=torch.float64), clip_range)
    out.loss.backward()
    return {
        "loss": float(out.loss.detach()),
        "coef": float(lp.grad[0]) + 0.0,
        "ratio": float(out.ratio[0]),
        "logRatio": float(out.log_ratio[0]),
        "clipped": bool(out.clipfrac > 0),
        "active": out.inactive_frac == 0,
        "approxKl": out.approx_kl,
    }
