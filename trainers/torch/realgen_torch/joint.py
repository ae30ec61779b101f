"""Stage 3: joint training of the prompt optimizer (LM LoRA) and the diffusion model (generator LoRA).

One step = one GRPO epoch with ONE rollout set that updates both policies:
  1. `promptsPerEpoch` prompts; per prompt `groupSize` rewrites from the LM policy and one initial noise per group
     (stage1.PromptOptimizerTrainer.rollout);
  2. every well-formed rewrite is sampled by the diffusion policy as in stage 2 (Euler ODE with an SDE window whose
     transitions and log-probs are recorded: train.Trainer.sample_batch); malformed rewrites are not rendered;
  3. the images are scored once; two sets of group advantages come from the same rewards:
       - the LM's over all rewrites of a prompt (malformed ones carry `malformedReward`),
       - the diffusion model's over the rendered samples of a prompt only (a penalty is not an image's fault);
  4. the diffusion LoRA is updated exactly as in stage 2 (`grpo`: its optimizer, clip range, KL, EMA, accumulation),
     then the LM LoRA as in stage 1 (`lmGrpo`: its own optimizer, clip range and KL).

Checkpoint = the stage-2 layout (lora/, live/, optimizer.pt, scheduler.pt, rng/, state.json) plus the stage-1 LM
parts (lm-lora/, lm-optimizer.pt, lm-scheduler.pt); state.json has `kind: joint`. A fresh stage 3 takes the
generator LoRA from the newest earlier checkpoint with `lora/` (stage 2) and the LM LoRA from the newest with
`lm-lora/` (stage 1), both from the job's initDirs.
"""
from __future__ import annotations

import math
import time

import torch

from .protocol import TrainerFailure
from .stage1 import PromptOptimizer, PromptOptimizerTrainer, render_prompt
from .train import Trainer

KIND = "joint"


class JointTrainer(Trainer):
    rollout = PromptOptimizerTrainer.rollout
    score = PromptOptimizerTrainer.score
    rollout_metrics = PromptOptimizerTrainer.rollout_metrics

    def setup(self) -> None:
        job = self.job
        if job["resumeDir"]:
            try:
                PromptOptimizer.check_parts(job["resumeDir"])
            except ValueError as err:
                raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {job['resumeDir']}: {err}") from err
        self.last_rewrites: list[dict] = []
        self.event({"type": "heartbeat", "note": "loading the prompt-optimizer LM"})
        self.po = PromptOptimizer(self.s.lm, self.device, self.dtype, job["seed"], job["stageKey"], self.log)
        super().setup()  # the diffusion half, then resume() or warm_start()

    def resume(self, d: str) -> None:
        from . import checkpoint as ck

        super().resume(d)
        try:
            st = ck.read_state(d)
            if st.get("kind") != KIND:
                raise ValueError(f"state.json is not a {KIND} checkpoint (kind {st.get('kind')!r})")
            self.po.load_parts(d)
        except Exception as err:  # noqa: BLE001
            raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {d}: {err}") from err
        self.last_rewrites = st.get("lastRewrites", [])

    def warm_start(self) -> None:
        super().warm_start()
        init = self.job["initDirs"]
        own = init.get(self.job["stageKey"])
        dirs = [own] if PromptOptimizer.has_lora(own) else [v for k, v in sorted(init.items(), reverse=True) if k != self.job["stageKey"]]
        for d in dirs:
            if PromptOptimizer.has_lora(d):
                self.po.load_lora(d)
                self.log(f"LM LoRA initialised from {d}")
                break

    def extra_state(self) -> dict:
        return {"kind": KIND, "lastRewrites": self.last_rewrites}

    def write_extra_parts(self, d: str) -> None:
        self.po.write_parts(d)

    def run_step(self) -> dict:
        s = self.s
        from .advantages import compute_advantages

        t0 = time.time()
        P, G = s.prompts_per_epoch, s.group_size
        abandon_if_asked = self.step_abandoner()

        # 1. prompt → rewrites (LM policy), one noise per group
        prompts = self.sampler.next(P)
        roll = self.rollout(prompts)
        abandon_if_asked()
        t1 = time.time()
        # 2. rewrite → image (diffusion policy, SDE window recorded)
        valid = [(pi, gi) for pi in range(P) for gi in range(G) if roll["rewrites"][pi][gi].malformed is None]
        nv = len(valid)
        images, xs, xns, lps, mus, tidx = [], [], [], [], [], []
        cond = self.family.encode([render_prompt(prompts[pi], roll["rewrites"][pi][gi].text) for pi, gi in valid]) if nv else {}
        self.model.eval()
        for b0 in range(0, nv, s.batch_size):
            self.event({"type": "heartbeat", "note": f"sampling {b0}/{nv}"})
            sel = list(range(b0, min(nv, b0 + s.batch_size)))
            c = {k: v[sel] for k, v in cond.items()}
            rec, x = self.sample_batch(c, torch.cat([roll["noise"][valid[i][0]] for i in sel], 0))
            for acc_, key in ((xs, "x"), (xns, "xn"), (lps, "lp"), (mus, "mu")):
                acc_.append(torch.stack(rec[key], 1))
            tidx += [rec["t"]] * len(sel)
            images.extend(self.family.decode(x))
            abandon_if_asked()
        t2 = time.time()
        # 3. image → reward; the two advantage sets
        self.event({"type": "heartbeat", "note": "scoring"})
        rewards = self.score(prompts, roll, images, valid)
        keys = self.rewards.keys
        weights = {k: s.reward_weights[k] for k in keys}
        adv_lm = compute_advantages([f"{k // G}:{prompts[k // G].id}" for k in range(P * G)], rewards, weights, s.adv_std, s.adv_eps, s.adv_clip)
        adv_d = None
        if nv:
            adv_d = compute_advantages([f"{pi}:{prompts[pi].id}" for pi, _ in valid], [rewards[pi * G + gi] for pi, gi in valid], weights,
                                       s.adv_std, s.adv_eps, s.adv_clip)
        abandon_if_asked()
        t3 = time.time()
        # 4. both updates
        m = self.rollout_metrics(prompts, roll, rewards, adv_lm, keys)
        if nv:
            xs, xns, lps, mus = (torch.cat(a, 0) for a in (xs, xns, lps, mus))
            adv_local = torch.tensor(adv_d.advantages, dtype=torch.float32, device=self.device)
            acc, rmin, rmax, gnorm, opt_steps = self.policy_update(xs, xns, lps, mus, tidx, adv_local, cond, nv)
            n = max(1, acc["n"])
            m.update({k: acc[k] / n for k in ("policy_loss", "kl", "clipfrac", "approx_kl", "ratio_mean", "inactive_frac")})
            m.update({"ratio_min": rmin, "ratio_max": rmax, "grad_norm": gnorm, "optimizer_steps": float(opt_steps),
                      "diffusion_zero_std_ratio": adv_d.zero_std_fraction})
        m["lr"] = float(self.scheduler.get_last_lr()[0])
        t4 = time.time()
        up = self.po.update(list(zip(roll["prompt_ids"], roll["completions"])), adv_lm.advantages)
        m.update({f"lm_{k}": v for k, v in up.items()})
        t5 = time.time()
        m.update({"step_seconds": t5 - t0, "rewrite_seconds": t1 - t0, "sample_seconds": t2 - t1, "reward_seconds": t3 - t2,
                  "train_seconds": t4 - t3, "lm_train_seconds": t5 - t4})
        return {k: (float(v) if math.isfinite(v) else 0.0) for k, v in m.items()}

