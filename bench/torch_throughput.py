"""Throughput of the native PyTorch trainer (trainers/torch) on one device: samples/s and step time per GRPO step.

    python bench/torch_throughput.py [--gpu 0] [--pretrained /models/FLUX.1-dev] [--resolution 512] [--steps 4]

Runs `python -m realgen_torch.train` on a job spec as the supervisor would (own process group, JSON events), with
the real reward service (`bin/realgen serve reward`, configs/mini.yaml's models), and reads the trainer's own
`step_seconds`, `samples_per_second`, `sample_seconds`, `reward_seconds` and `train_seconds` from its progress
events. Without --pretrained the model is the tiny random-weight FLUX (the code path of FLUX.1-dev, not its cost);
with it, FLUX.1-dev at the paper's settings per rank (3 images per micro-batch, 28 steps, a 7-step SDE window).
Step 1 includes warm-up (allocator, kernels) and is left out of the means.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainers", "torch", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "trainers", "torch"))

import helpers as H  # noqa: E402


def job_config(args) -> dict:
    if args.pretrained:
        trainer = {"family": "flux", "pretrained": os.path.abspath(args.pretrained), "resolution": args.resolution or 1024,
                   "precision": "bf16", "numProcesses": 1}
        grpo = {"groupSize": 3, "promptsPerEpoch": 1, "batchSize": 3, "gradientAccumulationSteps": 1, "samplingSteps": 28,
                "sdeWindow": {"size": 7, "startMin": 0, "startMax": 14}, "lora": {"rank": 64, "alpha": 128}, "sigmaShift": 3.0}
    else:
        trainer = {"family": "flux", "tiny": True, "resolution": args.resolution or 256, "maxSequenceLength": 64,
                   "precision": "bf16", "numProcesses": 1}
        grpo = {"groupSize": 4, "promptsPerEpoch": 2, "batchSize": 4, "gradientAccumulationSteps": 2, "samplingSteps": 8,
                "sdeWindow": {"size": 2, "startMin": 0, "startMax": 4}, "lora": {"rank": 4, "alpha": 8}, "sigmaShift": 3.0}
    return H.config(trainer=trainer, grpo=grpo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpu", type=int, default=None, help="GPU index (as CUDA sees it); default: CPU")
    ap.add_argument("--pretrained", default=None, help="local FLUX.1-dev folder (diffusers layout)")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    os.environ["REALGEN_TEST_GPU_IDS"] = "" if args.gpu is None else str(args.gpu)
    cfg = job_config(args)
    tr, g = cfg["stages"][1]["trainer"], cfg["stages"][1]["grpo"]
    what = f"FLUX.1-dev from {tr['pretrained']}" if args.pretrained else "tiny random FLUX"
    where = "CPU" if args.gpu is None else f"GPU {args.gpu}"
    print(f"throughput: {what} at {tr['resolution']} px on {where}; {g['promptsPerEpoch']} prompts × {g['groupSize']} images per step, "
          f"micro-batch {g['batchSize']}, {g['samplingSteps']} sampling steps, SDE window {g['sdeWindow']['size']}")
    reward = H.RewardService()
    try:
        with tempfile.TemporaryDirectory(prefix="realgen-throughput-") as tmp:
            t0 = time.time()
            rc, events, err = H.run_trainer(H.write_job(tmp, cfg, stop=args.steps, save_every=args.steps), reward.url, timeout=7200)
            wall = time.time() - t0
    finally:
        reward.stop()
    errors = [e for e in events if e["type"] == "error"]
    if rc != 0 or errors:
        print(f"throughput: trainer failed (exit {rc}): {json.dumps(errors)}\n{err[-3000:]}", file=sys.stderr)
        return 1
    progress = [e for e in events if e["type"] == "progress"]
    keys = ("step_seconds", "samples_per_second", "sample_seconds", "reward_seconds", "train_seconds")
    for e in progress:
        m = e["metrics"]
        print(f"  step {e['step']}: " + ", ".join(f"{k} {m[k]:.3f}" for k in keys if k in m))
    steady = progress[1:] or progress
    mean = {k: statistics.fmean(e["metrics"][k] for e in steady if k in e["metrics"]) for k in keys if any(k in e["metrics"] for e in steady)}
    print("throughput: " + ", ".join(f"mean {k} {v:.3f}" for k, v in mean.items()) + f" (steps 2..{len(progress)}; whole run {wall:.1f} s incl. start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
