"""The `flux` family: diffusers FluxTransformer2DModel + AutoencoderKL.

- Production: `trainer.pretrained` is a local FLUX.1-dev folder (diffusers layout: transformer/, vae/,
  text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/), loaded with from_pretrained; prompts are encoded by CLIP
  (pooled) and T5 (sequence), as FluxPipeline.encode_prompt does.
- Tests (`trainer.tiny: true`): a 2-layer transformer (1 double + 1 single block) and a 2-level VAE built from configs
  with seeded random weights, and prompt embeddings derived from a hash of the prompt text (no text encoder).
Latents are packed 2×2 into tokens as FluxPipeline does; the SDE runs in the packed space.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..protocol import TrainerFailure
from . import to_uint8

TINY_TRANSFORMER = dict(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
                        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
                        axes_dims_rope=(4, 6, 6))
TINY_VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), block_out_channels=(8, 16), layers_per_block=1,
                latent_channels=4, norm_num_groups=4, sample_size=32, scaling_factor=0.3611, shift_factor=0.1159,
                use_quant_conv=False, use_post_quant_conv=False)


def pack(latents: torch.Tensor) -> torch.Tensor:
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    b, _, d = x.shape
    c = d // 4
    x = x.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)


def image_ids(h2: int, w2: int) -> torch.Tensor:
    ids = torch.zeros(h2, w2, 3)
    ids[..., 1] = torch.arange(h2)[:, None]
    ids[..., 2] = torch.arange(w2)[None, :]
    return ids.reshape(h2 * w2, 3)


class FluxFamily:
    name = "flux"

    def __init__(self, settings, device: torch.device, dtype: torch.dtype, seed: int):
        from diffusers import AutoencoderKL, FluxTransformer2DModel

        self.device, self.dtype, self.s = device, dtype, settings
        self.text = None
        if settings.tiny:
            fork = torch.random.fork_rng(devices=[])
            with fork:
                torch.manual_seed(seed)
                net = FluxTransformer2DModel(**TINY_TRANSFORMER)
                vae = AutoencoderKL(**TINY_VAE)
        else:
            try:
                net = FluxTransformer2DModel.from_pretrained(settings.pretrained, subfolder="transformer", torch_dtype=dtype)
                vae = AutoencoderKL.from_pretrained(settings.pretrained, subfolder="vae", torch_dtype=dtype)
                self.text = _TextEncoders(settings.pretrained, settings.max_sequence_length, device, dtype)
            except OSError as err:
                raise TrainerFailure("ConfigInvalid", f"flux: cannot load {settings.pretrained}: {err}") from err
        net.requires_grad_(False)
        vae.requires_grad_(False)
        if net.dtype != dtype:
            net, vae = net.to(dtype=dtype), vae.to(dtype=dtype)
        self.net = net.to(device=device)
        self.vae = vae.to(device=device).eval()
        self.vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
        self.lat_h = self.lat_w = settings.resolution // self.vae_scale
        if self.lat_h % 2:
            raise TrainerFailure("ConfigInvalid", f"flux: resolution {settings.resolution} gives an odd latent size")
        c = vae.config.latent_channels
        self.latent_shape = ((self.lat_h // 2) * (self.lat_w // 2), c * 4)
        self.img_ids = image_ids(self.lat_h // 2, self.lat_w // 2).to(device=device, dtype=dtype)
        self.joint_dim = net.config.joint_attention_dim
        self.pooled_dim = net.config.pooled_projection_dim
        self.guidance_embeds = bool(net.config.guidance_embeds)

    def encode(self, prompts: list) -> dict[str, torch.Tensor]:
        texts = [p.text for p in prompts]
        if self.text is not None:
            embeds, pooled = self.text.encode(texts)
        else:
            embeds, pooled = [], []
            for t in texts:  # deterministic stand-in embeddings: a function of the text only
                g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") >> 1)
                embeds.append(torch.randn(self.s.max_sequence_length, self.joint_dim, generator=g))
                pooled.append(torch.randn(self.pooled_dim, generator=g))
            embeds, pooled = torch.stack(embeds), torch.stack(pooled)
        return {"embeds": embeds.to(self.device, self.dtype), "pooled": pooled.to(self.device, self.dtype)}

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn((n, *self.latent_shape), generator=generator, dtype=torch.float32).to(self.device)

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        n = x.shape[0]
        sigma = sigma.to(device=self.device, dtype=self.dtype)
        guidance = torch.full((n,), float(self.s.guidance), device=self.device, dtype=self.dtype) if self.guidance_embeds else None
        txt_ids = torch.zeros(cond["embeds"].shape[1], 3, device=self.device, dtype=self.dtype)
        return self.net(hidden_states=x.to(self.dtype), timestep=sigma, guidance=guidance, pooled_projections=cond["pooled"],
                        encoder_hidden_states=cond["embeds"], txt_ids=txt_ids, img_ids=self.img_ids, return_dict=False)[0]

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> np.ndarray:
        lat = unpack(x.float(), self.lat_h, self.lat_w)
        cfg = self.vae.config
        lat = lat / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        img = self.vae.decode(lat.to(self.dtype), return_dict=False)[0]
        return to_uint8(img)


class _TextEncoders:
    """CLIP (pooled) + T5 (sequence) from a local FLUX folder, frozen, as FluxPipeline.encode_prompt."""

    def __init__(self, root: str, max_len: int, device, dtype):
        from transformers import AutoTokenizer, CLIPTextModel, T5EncoderModel

        self.tok1 = AutoTokenizer.from_pretrained(root, subfolder="tokenizer")
        self.tok2 = AutoTokenizer.from_pretrained(root, subfolder="tokenizer_2")
        self.enc1 = CLIPTextModel.from_pretrained(root, subfolder="text_encoder", dtype=dtype).to(device).eval()
        self.enc2 = T5EncoderModel.from_pretrained(root, subfolder="text_encoder_2", dtype=dtype).to(device).eval()
        self.enc1.requires_grad_(False)
        self.enc2.requires_grad_(False)
        self.clip_len = min(int(self.tok1.model_max_length), int(self.enc1.config.max_position_embeddings))
        self.max_len, self.device = max_len, device

    @torch.no_grad()
    def encode(self, texts: list[str]):
        a = self.tok1(texts, padding="max_length", max_length=self.clip_len, truncation=True, return_tensors="pt")
        pooled = self.enc1(a.input_ids.to(self.device), output_hidden_states=False).pooler_output
        b = self.tok2(texts, padding="max_length", max_length=self.max_len, truncation=True, return_tensors="pt")
        embeds = self.enc2(b.input_ids.to(self.device), output_hidden_states=False)[0]
        return embeds, pooled
