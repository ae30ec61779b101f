"""LoRA through peft on both families: the reference (adapter disabled) is exactly the frozen base network."""
import os

import torch
from peft import LoraConfig, get_peft_model

import helpers as H
from realgen_torch.data import Prompt
from realgen_torch.families import load_family
from realgen_torch.protocol import PROTOCOL
from realgen_torch.settings import read_settings


def family_with_lora(cfg):
    job = {"protocol": PROTOCOL, "stage": 2, "stageKey": "stage-2", "config": cfg, "configBaseDir": H.CONFIGS}
    s = read_settings(job)
    fam = load_family(s, torch.device("cpu"), torch.float32, seed=1)
    return fam, s


def check(cfg):
    fam, s = family_with_lora(cfg)
    prompts = [Prompt("00001", "a red cat on a sofa", "animals"), Prompt("00002", "a stone bridge", "buildings")]
    cond = fam.encode(prompts)
    x = fam.noise(2, torch.Generator().manual_seed(3))
    sigma = torch.tensor([0.8, 0.3])
    with torch.no_grad():
        base = fam.velocity(x, sigma, cond)
    model = get_peft_model(fam.net, LoraConfig(r=4, lora_alpha=8, target_modules=s.lora_targets, init_lora_weights="gaussian"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
        lora = fam.velocity(x, sigma, cond)
        with model.disable_adapter():
            ref = fam.velocity(x, sigma, cond)
    assert torch.equal(ref, base)
    assert not torch.allclose(lora, base)
    images = fam.decode(x)
    assert images.dtype.name == "uint8" and images.shape[0] == 2 and images.shape[-1] == 3


def test_mini_lora_and_reference():
    check(H.config())


def test_flux_tiny_lora_and_reference():
    check(H.flux_config())
