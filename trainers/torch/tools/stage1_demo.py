"""Demo-scale stage 1: the small prompt-optimizer LM (models/realgen-mini-lm) with a LoRA learns rewrites for the frozen
realgen-mini generator against the real reward service, for a fixed wall-clock budget; then a paired evaluation
(base LM vs trained LoRA, same prompts, same sampling seeds, same initial noises).

    PYTHONPATH=trainers/torch OMP_NUM_THREADS=1 .tools/torch-venv/bin/python trainers/torch/tools/stage1_demo.py --minutes 14

Writes <out>/curve.json (every progress event), <out>/eval.json (paired evaluation and example rewrites) and prints a
summary. The trainer runs as the supervisor starts it (own process group, JSON events on stdout).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "trainers", "torch"))
CONFIGS = os.path.join(REPO, "configs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_reward_service(port: int) -> subprocess.Popen:
    args = [os.path.join(REPO, "bin", "realgen"), "serve", "reward", "--config", os.path.join(CONFIGS, "mini.yaml"),
            "--listen", f"127.0.0.1:{port}", "--threads", "1"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return p
        except OSError:
            time.sleep(0.5)
    os.killpg(p.pid, signal.SIGTERM)
    raise RuntimeError("reward service did not start")


def demo_config(lm_dir: str, a) -> dict:
    import yaml

    with open(os.path.join(CONFIGS, "mini.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cfg["stages"][0] = {
        "stage": 1,
        "trainer": {"backend": "torch", "family": "mini", "threads": a.threads,
                    "lm": {"pretrained": lm_dir, "systemPrompt": "Rewrite the image prompt.", "maxNewTokens": 64, "minWords": 3,
                           "maxWords": 60, "temperature": 1.0, "alignTo": a.align_to}},
        "grpo": {"groupSize": a.group, "promptsPerEpoch": a.prompts, "batchSize": 8, "learningRate": a.lr, "klBeta": a.kl,
                 "clipRange": 0.2, "innerEpochs": a.inner_epochs, "samplingSteps": a.render_steps, "lora": {"rank": 8, "alpha": 16},
                 "advantage": {"std": a.adv_std, "eps": 1e-4, "clip": 5}},
        "budget": {"maxSteps": 1000, "segmentSteps": 1000, "segmentMinutes": a.minutes}, "saveEvery": 10, "evalEvery": 10,
    }
    return cfg


def run_training(a, lm_dir: str, url: str) -> tuple[list[dict], str]:
    cfg = demo_config(lm_dir, a)
    out = os.path.join(a.out, "trainer-out")
    os.makedirs(out, exist_ok=True)
    job = {"protocol": "realgen-trainer/1", "runId": "stage1-demo", "stage": 1, "stageKey": "stage-1", "segment": 0, "attempt": 1,
           "config": cfg, "configBaseDir": CONFIGS, "configDigest": "0" * 64, "startStep": 0, "stopAtStep": 1000,
           "wallClockSeconds": a.minutes * 60, "saveEvery": 10, "resumeDir": None, "initDirs": {}, "outputDir": out, "gpuIds": [],
           "seed": a.seed}
    path = os.path.join(a.out, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(a.threads), REALGEN_REWARD_URL=url,
               PYTHONPATH=os.path.join(REPO, "trainers", "torch"))
    log = open(os.path.join(a.out, "trainer.stderr"), "w")
    p = subprocess.Popen([sys.executable, "-m", "realgen_torch.train", "--job", path], stdout=subprocess.PIPE, stderr=log, text=True,
                         env=env, start_new_session=True)
    curve, last_ck = [], None
    for line in p.stdout:
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e["type"] == "progress":
            m = e["metrics"]
            curve.append({"step": e["step"], **m})
            print(f"step {e['step']:3d} reward {m['reward']:.4f} wellformed {m['reward_wellformed']:.4f} malformed {m['malformed_frac']:.2f} "
                  f"words {m['rewrite_words']:.1f} kl {m['kl']:.4f} {m['step_seconds']:.1f}s", flush=True)
        elif e["type"] == "checkpoint":
            last_ck = e["dir"]
        elif e["type"] in ("done", "error"):
            print(json.dumps(e), flush=True)
    p.wait()
    return curve, last_ck


def paired_eval(a, lm_dir: str, ck: str, url: str) -> dict:
    """Base LM (adapter off) vs trained LoRA on the same prompts, sampling seeds and initial noises."""
    import torch

    from realgen_torch.data import load_prompts
    from realgen_torch.families import load_family
    from realgen_torch.lm_settings import read_lm_settings
    from realgen_torch.rewards import RewardClient
    from realgen_torch.stage1 import PromptOptimizer, render_prompt

    torch.set_num_threads(a.threads)
    job = {"protocol": "realgen-trainer/1", "stage": 1, "stageKey": "stage-1", "config": demo_config(lm_dir, a), "configBaseDir": CONFIGS}
    s, L = read_lm_settings(job)
    po = PromptOptimizer(L, torch.device("cpu"), torch.float32, a.seed, "stage-1", print)
    po.load_lora(ck)
    fam = load_family(s, torch.device("cpu"), torch.float32, 0)
    keys = sorted(k for k, w in s.reward_weights.items() if w > 0)
    client = RewardClient(url, keys, None)
    prompts = load_prompts(s.realbench_dir)[:: max(1, len(load_prompts(s.realbench_dir)) // a.eval_prompts)][: a.eval_prompts]
    from realgen_torch.sde import sigma_schedule

    sig = sigma_schedule(s.sampling_steps, s.sigma_shift)
    res = {}
    for policy in ("base", "trained"):
        rows = []
        for i, p in enumerate(prompts):
            g = torch.Generator().manual_seed(10_000 + i)
            if policy == "base":
                with po.model.disable_adapter():
                    _, _, rws = po.rewrite_group(p.text, a.eval_samples, g)
            else:
                _, _, rws = po.rewrite_group(p.text, a.eval_samples, g)
            noise = fam.noise(1, torch.Generator().manual_seed(20_000 + i))
            ok = [r for r in rws if r.malformed is None]
            scores = {k: [] for k in keys}
            if ok:
                c = fam.encode([render_prompt(p, r.text) for r in ok])
                x = noise.repeat(len(ok), 1, 1, 1)
                with torch.no_grad():
                    for j in range(s.sampling_steps):
                        x = x + fam.velocity(x, torch.full((len(ok),), sig[j]), c) * (sig[j + 1] - sig[j])
                texts = [p.text if L.align_to == "original" else r.text for r in ok]
                scores = client.score(list(fam.decode(x)), [{"text": t, "category": p.category} for t in texts])
            it = iter(range(len(ok)))
            for r in rws:
                if r.malformed is None:
                    j = next(it)
                    rew = {k: scores[k][j] for k in keys}
                else:
                    rew = {k: L.malformed_reward for k in keys}
                rows.append({"prompt": p.text, "rewrite": r.text, "malformed": r.malformed,
                             "reward": sum(s.reward_weights[k] * rew[k] for k in keys) / sum(s.reward_weights[k] for k in keys), **rew})
        res[policy] = rows
    summary = {}
    for policy, rows in res.items():
        ok = [r for r in rows if not r["malformed"]]
        summary[policy] = {"reward": sum(r["reward"] for r in rows) / len(rows), "malformed_frac": 1 - len(ok) / len(rows),
                           "reward_wellformed": sum(r["reward"] for r in ok) / max(1, len(ok)),
                           "words": sum(len(r["rewrite"].split()) for r in rows) / len(rows),
                           **{f"reward_{k}": sum(r[k] for r in ok) / max(1, len(ok)) for k in keys}}
    # paired per prompt: mean over its samples, trained − base
    diffs = []
    for i in range(len(prompts)):
        b = res["base"][i * a.eval_samples:(i + 1) * a.eval_samples]
        t = res["trained"][i * a.eval_samples:(i + 1) * a.eval_samples]
        diffs.append(sum(r["reward"] for r in t) / len(t) - sum(r["reward"] for r in b) / len(b))
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / max(1, len(diffs) - 1))
    summary["paired_diff"] = {"mean": mean, "stderr": sd / math.sqrt(len(diffs)), "n_prompts": len(diffs)}
    return {"summary": summary, "examples": {k: v[:: a.eval_samples][:8] for k, v in res.items()}, "rows": res}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default=os.path.join(REPO, "models", "realgen-mini-lm"))
    ap.add_argument("--out", default="/tmp/realgen-stage1-demo")
    ap.add_argument("--minutes", type=float, default=14)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompts", type=int, default=6)
    ap.add_argument("--group", type=int, default=6)
    ap.add_argument("--render-steps", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--kl", type=float, default=0.01)
    ap.add_argument("--inner-epochs", type=int, default=2)
    ap.add_argument("--adv-std", choices=("group", "global"), default="group")
    ap.add_argument("--align-to", choices=("original", "rewrite"), default="original")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--eval-prompts", type=int, default=24)
    ap.add_argument("--eval-samples", type=int, default=4)
    ap.add_argument("--skip-train", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    port = free_port()
    svc = start_reward_service(port)
    url = f"http://127.0.0.1:{port}"
    try:
        if a.skip_train:
            curve = json.load(open(os.path.join(a.out, "curve.json")))
            out = os.path.join(a.out, "trainer-out")
            ck = os.path.join(out, sorted((d for d in os.listdir(out) if d.startswith("checkpoint-") and not d.endswith(".tmp")),
                                          key=lambda d: int(d.split("-")[1]))[-1])
        else:
            curve, ck = run_training(a, os.path.abspath(a.lm), url)
            with open(os.path.join(a.out, "curve.json"), "w") as f:
                json.dump(curve, f, indent=1)
        print(f"final checkpoint {ck}", flush=True)
        ev = paired_eval(a, os.path.abspath(a.lm), ck, url)
        with open(os.path.join(a.out, "eval.json"), "w") as f:
            json.dump(ev, f, indent=1)
        print(json.dumps(ev["summary"], indent=1))
    finally:
        os.killpg(svc.pid, signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
