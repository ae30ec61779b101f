"""Model families behind one interface (`Family`): `mini` (realgen-mini UNet on 64×64 pixels) and `flux`
(diffusers FluxTransformer2DModel + AutoencoderKL; FLUX.1-dev from a local folder, or a tiny random one for tests).

A family owns the frozen base network `net` (LoRA is injected into it by the trainer), and knows how to
  - turn prompts into a conditioning dict of tensors with batch dimension 0 (`encode`),
  - draw initial noise in its latent space (`noise`),
  - predict the velocity v(x, σ, c) with whatever network is passed in (`velocity`),
  - turn final latents into uint8 RGB images for the reward service (`decode`).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class Family(Protocol):
    name: str
    net: torch.nn.Module
    latent_shape: tuple[int, ...]

    def encode(self, prompts: list) -> dict[str, torch.Tensor]: ...

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor: ...

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def decode(self, x: torch.Tensor) -> np.ndarray: ...


def load_family(settings, device: torch.device, dtype: torch.dtype, seed: int) -> Family:
    if settings.family == "mini":
        from .mini import MiniFamily

        return MiniFamily(settings, device, dtype)
    from .flux import FluxFamily

    return FluxFamily(settings, device, dtype, seed)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N,3,H,W] in [-1,1] → uint8 [N,H,W,3] (round((x+1)/2·255), as domain/mini/flow-sampler.ts)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) / 2 * 255).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
