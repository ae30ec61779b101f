"""The Flow-GRPO SDE step and its Gaussian log-probability, same formulas as domain/mini/sde.ts
(shared/docs/mini-grpo-math.md §4). Rectified flow: x_σ = (1−σ)·x0 + σ·ε, σ from 1 (noise) to 0, v = ε − x0.

One step σ → σ' (dt = σ' − σ < 0), noise level a:
  s_t = a·sqrt(σ / (1 − σ̃)), σ̃ = σ_max (the schedule's second value) when σ = 1, else σ
  μ   = x·(1 + s_t²·dt/(2σ)) + v·(1 + s_t²·(1−σ)/(2σ))·dt
  x'  = μ + τ·ξ,  τ = s_t·sqrt(−dt)
  ℓ   = mean over the non-batch elements of [ −(x'−μ)²/(2τ²) − log τ − log sqrt(2π) ]   (mean, not sum)
Everything is computed in float32 or wider (the official code upcasts: bf16 overflows in μ).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class SdeCoefficients:
    dt: float
    st: float
    kx: float
    kv: float
    tau: float
    sqrt_dt: float


def sde_coefficients(sigma: float, sigma_next: float, noise_level: float, sigma_max: float) -> SdeCoefficients:
    """Coefficients for σ → σ' (python floats, i.e. float64, as the TS numbers)."""
    dt = sigma_next - sigma
    if not dt < 0:
        raise ValueError(f"SDE step needs σ' < σ, got σ={sigma}, σ'={sigma_next}")
    if not sigma > 0:
        raise ValueError(f"SDE step needs σ > 0, got {sigma}")
    denom = 1 - (sigma_max if sigma == 1 else sigma)
    st = noise_level * math.sqrt(sigma / denom)
    return SdeCoefficients(
        dt=dt,
        st=st,
        kx=1 + (st * st * dt) / (2 * sigma),
        kv=(1 + (st * st * (1 - sigma)) / (2 * sigma)) * dt,
        tau=st * math.sqrt(-dt),
        sqrt_dt=math.sqrt(-dt),
    )


def sde_mean(x: torch.Tensor, v: torch.Tensor, c: SdeCoefficients) -> torch.Tensor:
    return c.kx * x + c.kv * v


def gaussian_log_prob_mean(x_next: torch.Tensor, mean: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-sample ℓ (batch dimension 0 kept), averaged over every other element."""
    d = x_next - mean
    sq = (d * d).flatten(1).mean(1)
    return -sq / (2 * tau * tau) - math.log(tau) - LOG_SQRT_2PI


def sde_step(x: torch.Tensor, v: torch.Tensor, c: SdeCoefficients, noise: torch.Tensor | None):
    """One SDE step. With `noise` (ξ) draws x' = μ + τ·ξ; returns (x', μ, ℓ)."""
    x = x.float()
    v = v.float()
    mu = sde_mean(x, v, c)
    x_next = mu + c.tau * noise.float() if noise is not None else mu
    return x_next, mu, gaussian_log_prob_mean(x_next, mu, c.tau)


def transition_log_prob(x: torch.Tensor, x_next: torch.Tensor, v: torch.Tensor, c: SdeCoefficients):
    """ℓ of a recorded transition x → x' under velocity v; returns (ℓ, μ)."""
    mu = sde_mean(x.float(), v.float(), c)
    return gaussian_log_prob_mean(x_next.float().detach(), mu, c.tau), mu


def sigma_schedule(steps: int, shift: float = 1.0) -> list[float]:
    """`steps + 1` values from 1 to 0, time-shifted by `shift` (1 = linear), as domain/mini/sde.ts sigmaSchedule."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an integer ≥ 1, got {steps}")
    out = []
    for i in range(steps + 1):
        t = 1 - i / steps
        out.append((shift * t) / (1 + (shift - 1) * t))
    return out
