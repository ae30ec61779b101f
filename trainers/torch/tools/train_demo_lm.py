"""Builds models/realgen-mini-lm: a small Qwen3 prompt optimizer trained from scratch on the RealBench training
prompts (index % 10 != 0) for the stage-1 demo. No downloads: the byte-level BPE tokenizer is trained here
(`tokenizers`), the model is built from a Qwen3 config with seeded random weights, then trained with next-token loss
on (short prompt → the prompt plus 0–4 photographic phrases from models/realgen-mini/descriptors.json) pairs in the
ChatML layout the trainer uses. Weights are saved in bfloat16 to stay under the repository's 2 MB file limit (the
trainer loads them as float32 on CPU).

    PYTHONPATH=trainers/torch OMP_NUM_THREADS=1 .tools/torch-venv/bin/python trainers/torch/tools/train_demo_lm.py
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "trainers", "torch"))

SYSTEM = "Rewrite the image prompt."


def main(argv: list[str]) -> int:
    import torch
    from transformers import Qwen3ForCausalLM

    from realgen_torch.lm_folder import descriptor_phrases, qwen3_config, sft, sft_pairs, train_tokenizer, training_texts

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "models", "realgen-mini-lm"))
    ap.add_argument("--realbench", default=os.path.normpath(os.path.join(REPO, "..", "shared", "realbench-data")))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.time()
    phrases = descriptor_phrases(os.path.join(REPO, "models", "realgen-mini", "descriptors.json"))
    tok = train_tokenizer(training_texts(a.realbench, ("prompt", "long_prompt")), a.vocab, [SYSTEM] + phrases)
    arch = {"hidden": 128, "layers": 3, "heads": 4, "kv_heads": 2, "intermediate": 256, "max_positions": 512}
    cfg = qwen3_config(len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **arch)
    torch.manual_seed(a.seed)
    model = Qwen3ForCausalLM(cfg)
    pairs = sft_pairs(a.realbench, phrases, a.seed, copies=max(1, a.steps * a.batch // 936 + 1))
    losses = sft(model, tok, pairs, SYSTEM, a.steps, batch=a.batch, lr=a.lr, seed=a.seed, log=lambda m: print(m, flush=True))
    os.makedirs(a.out, exist_ok=True)
    tok.save_pretrained(a.out)
    model.to(torch.bfloat16).save_pretrained(a.out, safe_serialization=True)
    info = {"params": sum(p.numel() for p in model.parameters()), "architecture": "Qwen3ForCausalLM", **arch, "vocab": len(tok),
            "steps": a.steps, "batch": a.batch, "lr": a.lr, "seed": a.seed, "systemPrompt": SYSTEM, "seconds": round(time.time() - t0, 1),
            "lossFirst50": sum(losses[:50]) / 50, "lossLast50": sum(losses[-50:]) / 50, "torch": torch.__version__}
    with open(os.path.join(a.out, "training.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
