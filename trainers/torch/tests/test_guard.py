"""GRPO-Guard ratio normalisation (RealGen V1 train_flux_fast_guard.py, `rationorm`) and the plain surrogate."""
import math

import torch

from realgen_torch.sde import sde_coefficients, sde_step, transition_log_prob
from realgen_torch.surrogate import clipped_surrogate


def test_guard_ratio_is_one_for_the_sampling_policy_and_follows_the_formula():
    g = torch.Generator().manual_seed(0)
    c = sde_coefficients(0.75, 0.5, 0.9, 0.96)
    x = torch.randn(3, 2, 4, 4, generator=g)
    v = torch.randn(3, 2, 4, 4, generator=g)
    xn, mu_old, lp_old = sde_step(x, v, c, torch.randn(3, 2, 4, 4, generator=g))
    lp, mu = transition_log_prob(x, xn, v, c)
    adv = torch.tensor([1.0, -0.5, 0.2])
    st = torch.full((3,), c.st)
    sq = torch.full((3,), c.sqrt_dt)
    out = clipped_surrogate(lp, lp_old, adv, 2e-6, {"mu": mu, "old_mu": mu_old, "st": st, "sqrt_dt": sq})
    assert torch.allclose(out.ratio, torch.ones(3))
    # a changed velocity: the official expression, written out
    v2 = v + 0.01 * torch.randn(3, 2, 4, 4, generator=g)
    lp2, mu2 = transition_log_prob(x, xn, v2, c)
    out2 = clipped_surrogate(lp2, lp_old, adv, 2e-6, {"mu": mu2, "old_mu": mu_old, "st": st, "sqrt_dt": sq})
    scale = c.sqrt_dt * c.st
    bias = ((mu2 - mu_old) ** 2).flatten(1).mean(1) / (2 * scale**2)
    ratio = torch.exp((lp2 - lp_old + bias) * scale)
    assert torch.allclose(out2.ratio, ratio)
    want = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - 2e-6, 1 + 2e-6)).mean() / c.sqrt_dt**2
    assert math.isclose(float(out2.loss), float(want), rel_tol=1e-6)


def test_plain_surrogate_gradient_is_minus_a_rho():
    lp = torch.tensor([-1.0, -1.0], requires_grad=True)
    out = clipped_surrogate(lp, torch.tensor([-1.05, -0.9]), torch.tensor([0.5, 0.5]), 0.2)
    out.loss.backward()
    rho = torch.exp(torch.tensor([0.05, -0.1]))
    assert torch.allclose(lp.grad, -0.5 * rho / 2)
