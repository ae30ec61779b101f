"""Full-state checkpoints. A folder `<outputDir>/checkpoint-<step>/` holds everything a resume needs:

  lora/adapter_model.safetensors   LoRA weights (peft key names; loadable with PeftModel.from_pretrained)
  lora/adapter_config.json         the peft LoraConfig
  live/adapter_model.safetensors   with EMA on: the live (trained) LoRA weights; lora/ then holds the EMA weights,
                                   which evaluation and the next stage use (as the official save_ckpt does)
  optimizer.pt, scheduler.pt       AdamW and LR-scheduler state
  rng/rank-<r>.pt                  per-rank RNG: torch (CPU, CUDA), numpy, python, and the trainer's noise generator
  state.json                       format, step, world size, prompt-sampler cursor, reward history, last metrics

Only rank 0 writes (the others send their RNG state to it). The folder is written under a temporary name and renamed
into place, so a reported folder is always complete.
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FORMAT = "realgen-torch-trainer/1"
LORA_DIR = "lora"
LORA_FILE = "adapter_model.safetensors"
LIVE_DIR = "live"


def rng_state(generator: torch.Generator) -> bytes:
    st = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
    }
    buf = io.BytesIO()
    torch.save(st, buf)
    return buf.getvalue()


def restore_rng(blob: bytes, generator: torch.Generator) -> None:
    st = torch.load(io.BytesIO(blob), weights_only=False)
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if st["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    generator.set_state(st["generator"])


def _json(path: str, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
        f.write("\n")


def write_checkpoint(dir_: str, *, lora_state: dict, lora_config: dict, optimizer, scheduler, rng_blobs: list[bytes],
                     state: dict, live_state: dict | None = None) -> None:
    tmp = dir_ + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, LORA_DIR))
    os.makedirs(os.path.join(tmp, "rng"))
    save_file({k: v.detach().to("cpu").contiguous() for k, v in sorted(lora_state.items())},
              os.path.join(tmp, LORA_DIR, LORA_FILE), metadata={"format": "pt"})
    _json(os.path.join(tmp, LORA_DIR, "adapter_config.json"), lora_config)
    if live_state is not None:
        os.makedirs(os.path.join(tmp, LIVE_DIR))
        save_file({k: v.detach().to("cpu").contiguous() for k, v in sorted(live_state.items())},
                  os.path.join(tmp, LIVE_DIR, LORA_FILE), metadata={"format": "pt"})
    torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
    torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
    for r, blob in enumerate(rng_blobs):
        with open(os.path.join(tmp, "rng", f"rank-{r}.pt"), "wb") as f:
            f.write(blob)
    _json(os.path.join(tmp, "state.json"), {"format": FORMAT, **state})
    shutil.rmtree(dir_, ignore_errors=True)
    os.rename(tmp, dir_)


def read_state(dir_: str) -> dict:
    with open(os.path.join(dir_, "state.json"), encoding="utf-8") as f:
        st = json.load(f)
    if st.get("format") != FORMAT:
        raise ValueError(f"{dir_}/state.json: unknown format {st.get('format')!r}")
    for p in (os.path.join(LORA_DIR, LORA_FILE), "optimizer.pt", "scheduler.pt"):
        if not os.path.isfile(os.path.join(dir_, p)):
            raise ValueError(f"{dir_}: missing {p}")
    return st


def read_lora(dir_: str, live: bool = False) -> dict[str, torch.Tensor]:
    return load_file(os.path.join(dir_, LIVE_DIR if live else LORA_DIR, LORA_FILE))


def read_rng(dir_: str, rank: int) -> bytes:
    with open(os.path.join(dir_, "rng", f"rank-{rank}.pt"), "rb") as f:
        return f.read()
