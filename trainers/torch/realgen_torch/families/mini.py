"""The `mini` family: the realgen-mini generator (models/realgen-mini) in PyTorch, on 3×64×64 pixels (no VAE)."""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from safetensors.torch import load_file

from ..data import MiniTokenizer
from ..protocol import TrainerFailure
from . import to_uint8
from .mini_model import MiniUNet
from .mini_weights import ensure


class MiniFamily:
    name = "mini"

    def __init__(self, settings, device: torch.device, dtype: torch.dtype):
        try:
            with open(settings.generator_json, encoding="utf-8") as f:
                meta = json.load(f)
            self.tokenizer = MiniTokenizer(settings.tokenizer_json)
            weights = ensure(settings.generator_json)
        except (OSError, ValueError, KeyError) as err:
            raise TrainerFailure("ConfigInvalid", f"realgen-mini generator: {err}") from err
        sd = load_file(weights)
        net = MiniUNet(sd["tok.weight"].shape[0])
        net.load_state_dict(sd)
        net.requires_grad_(False)
        self.net = net.to(device=device)
        self.device = device
        self.dtype = dtype
        size = int(meta.get("size", 64))
        self.latent_shape = (3, size, size)
        self.weights_path = os.path.abspath(weights)

    def encode(self, prompts: list) -> dict[str, torch.Tensor]:
        toks = [self.tokenizer.encode(p.text, p.category) for p in prompts]
        return {"tokens": torch.tensor(toks, dtype=torch.long, device=self.device)}

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn((n, *self.latent_shape), generator=generator, dtype=torch.float32).to(self.device)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        # fp32 weights; on a bf16-capable GPU the trainer's autocast runs the convolutions in bf16
        return self.net(x, sigma.to(device=self.device, dtype=torch.float32), cond["tokens"])

    def decode(self, x: torch.Tensor) -> np.ndarray:
        return to_uint8(x)
