"""Stage 1: the prompt optimizer. A causal LM with a LoRA rewrites training prompts; the diffusion model is frozen.

One step = one GRPO epoch:
  1. `promptsPerEpoch` prompts from the seeded sampler; per prompt, `groupSize` rewrites sampled from the LM (policy =
     LoRA on), then one initial noise for the whole group (so the rewrite is the only difference inside a group);
  2. every well-formed rewrite is rendered by the frozen generator (Euler ODE, `samplingSteps`), the images are
     scored by the reward service; a malformed rewrite (rewrite.py) is not rendered and gets `malformedReward` for
     every key;
  3. per-key per-prompt group z-score advantages (advantages.py, as domain/rewards/advantages.ts);
  4. GRPO on the rewrite tokens (llm.grpo_token_loss): clipped surrogate + β·KL(k3) to the frozen LM (the same
     network with the adapter disabled), one AdamW step per inner epoch over all rewrites.

`PromptOptimizer` (the LM, its LoRA, optimizer, scheduler, rollout and update) is shared with stage 3 (joint.py).
The loop, SIGTERM and wall-clock handling are train.Trainer's.

Checkpoint folder (stage 1):
  lm-lora/adapter_model.safetensors, lm-lora/adapter_config.json   the LM LoRA (peft layout)
  lm-optimizer.pt, lm-scheduler.pt                                 AdamW and LR-scheduler state
  rng/rank-0.pt                                                    python/numpy/torch RNG and the trainer's generator
  state.json                                                       step, cursor, reward history, last metrics, last rewrites
The LM LoRA lives in `lm-lora/`, not `lora/`, so a diffusion stage never mistakes it for its own adapter.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time

import torch

from .protocol import TrainerFailure
from .train import Trainer, _derive_seed

LM_LORA_DIR = "lm-lora"
LORA_FILE = "adapter_model.safetensors"
KIND = "prompt-optimizer"


class PromptOptimizer:
    """The LM half: model + LoRA, AdamW, LR schedule; group rollouts and the GRPO update."""

    def __init__(self, L, device: torch.device, dtype: torch.dtype, seed: int, stage_key: str, log):
        from peft import LoraConfig, get_peft_model

        from .llm import PromptLM

        self.L, self.device, self.log = L, device, log
        self.lm = PromptLM(L.pretrained, device, dtype, L.system_prompt, L.max_prompt_tokens)
        lcfg = LoraConfig(r=L.lora_rank, lora_alpha=L.lora_alpha, target_modules=L.lora_targets, lora_dropout=0.0, task_type="CAUSAL_LM")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_derive_seed(seed, stage_key, "lm-lora-init"))
            try:
                self.model = get_peft_model(self.lm.net, lcfg)
            except ValueError as err:
                raise TrainerFailure("ConfigInvalid", f"LM LoRA targets {L.lora_targets}: {err}") from err
        self.lora_config = lcfg.to_dict()
        self.params = [p for _, p in self.model.named_parameters() if p.requires_grad]
        if not self.params:
            raise TrainerFailure("ConfigInvalid", f"LM LoRA targets {L.lora_targets} match no module of {L.pretrained}")
        self.optimizer = torch.optim.AdamW(self.params, lr=L.learning_rate, betas=(L.adam_beta1, L.adam_beta2), eps=L.adam_eps,
                                           weight_decay=L.weight_decay)
        warm = L.lr_warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda k: min(1.0, (k + 1) / warm) if warm > 0 else 1.0)

    # -- rollout
    def rewrite_group(self, text: str, n: int, generator: torch.Generator):
        """n rewrites of one prompt → (prompt ids, completion ids per rewrite, checked Rewrite per rewrite)."""
        from .rewrite import check_rewrite

        L = self.L
        ids = self.lm.prompt_ids(text)
        self.model.eval()
        comp = self.lm.sample(self.model, ids, n, generator, L.max_new_tokens, L.temperature, L.top_k)
        out = [check_rewrite(self.lm.decode(t), ended=e, tokens=len(t), min_words=L.min_words, max_words=L.max_words)
               for t, e in zip(comp.tokens, comp.ended)]
        return ids, comp.tokens, out

    # -- update
    def update(self, groups: list[tuple[list[int], list[list[int]]]], adv: list[float]) -> dict:
        """GRPO on the rewrite tokens. `groups`: (prompt ids, completions) per prompt, `adv`: one advantage per
        completion in the same order. Old and reference log-probs are computed first, in the same micro-batches as
        the update, so the first inner epoch's ratios are exactly 1."""
        from .llm import grpo_token_loss

        L, lm = self.L, self.lm
        chunks = []  # (prompt ids, completions, advantages) of at most batchSize rows, all of one prompt
        k = 0
        for prompt, comps in groups:
            for i in range(0, len(comps), L.batch_size):
                part = comps[i:i + L.batch_size]
                chunks.append((prompt, part, torch.tensor(adv[k + i:k + i + len(part)], dtype=torch.float32, device=self.device)))
            k += len(comps)
        total = max(1, k)
        self.model.eval()
        with torch.no_grad():
            old = [lm.token_logprobs(self.model, p, c, L.temperature)[0] for p, c, _ in chunks]
            if L.kl_beta > 0:
                with self.model.disable_adapter():
                    ref = [lm.token_logprobs(self.model, p, c, L.temperature)[0] for p, c, _ in chunks]
            else:
                ref = old
        acc = {"policy_loss": 0.0, "kl": 0.0, "clipfrac": 0.0, "approx_kl": 0.0}
        gnorm, n = 0.0, 0
        self.model.train()
        for _ in range(L.inner_epochs):
            for (p, c, a), o, r in zip(chunks, old, ref):
                lp, mask = lm.token_logprobs(self.model, p, c, L.temperature)
                loss, st = grpo_token_loss(lp, o, r, mask, a, L.clip_range, L.kl_beta)
                (loss * (len(c) / total)).backward()
                for key in acc:
                    acc[key] += st[key] * len(c)
                n += len(c)
            gnorm = float(torch.nn.utils.clip_grad_norm_(self.params, L.grad_clip_norm))
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        out = {key: v / max(1, n) for key, v in acc.items()}
        out.update({"grad_norm": gnorm, "lr": float(self.scheduler.get_last_lr()[0]), "optimizer_steps": float(L.inner_epochs)})
        return out

    # -- checkpoint parts
    def write_parts(self, d: str) -> None:
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        os.makedirs(os.path.join(d, LM_LORA_DIR), exist_ok=True)
        sd = get_peft_model_state_dict(self.model)
        save_file({k: v.detach().to("cpu").contiguous() for k, v in sorted(sd.items())}, os.path.join(d, LM_LORA_DIR, LORA_FILE),
                  metadata={"format": "pt"})
        cfg = dict(self.lora_config, base_model_name_or_path=os.path.basename(os.path.normpath(self.L.pretrained)))
        with open(os.path.join(d, LM_LORA_DIR, "adapter_config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=1, sort_keys=True, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
            f.write("\n")
        torch.save(self.optimizer.state_dict(), os.path.join(d, "lm-optimizer.pt"))
        torch.save(self.scheduler.state_dict(), os.path.join(d, "lm-scheduler.pt"))

    @staticmethod
    def check_parts(d: str) -> None:
        for p in (os.path.join(LM_LORA_DIR, LORA_FILE), "lm-optimizer.pt", "lm-scheduler.pt"):
            if not os.path.isfile(os.path.join(d, p)):
                raise ValueError(f"{d}: missing {p}")

    def load_lora(self, d: str) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        res = set_peft_model_state_dict(self.model, load_file(os.path.join(d, LM_LORA_DIR, LORA_FILE)))
        if getattr(res, "unexpected_keys", None):
            raise ValueError(f"unexpected LM LoRA keys {res.unexpected_keys[:3]}")

    def load_parts(self, d: str) -> None:
        self.check_parts(d)
        self.load_lora(d)
        self.optimizer.load_state_dict(torch.load(os.path.join(d, "lm-optimizer.pt"), map_location=self.device, weights_only=True))
        self.scheduler.load_state_dict(torch.load(os.path.join(d, "lm-scheduler.pt"), weights_only=True))

    @staticmethod
    def has_lora(d: str | None) -> bool:
        return bool(d) and os.path.isfile(os.path.join(d, LM_LORA_DIR, LORA_FILE))


def render_prompt(p, text: str):
    """The prompt object the generator encodes: the rewrite, with the original's category (mini uses it)."""
    from .data import Prompt

    return Prompt(id=p.id, text=text, category=p.category)


class PromptOptimizerTrainer(Trainer):
    """Stage 1 on train.Trainer's loop: the generator is loaded frozen (no LoRA), the LM is the policy."""

    def setup(self) -> None:
        s, job = self.s, self.job
        from . import checkpoint as ck
        from .families import load_family

        if job["resumeDir"]:
            st = self._read_state(job["resumeDir"])
            if st.get("step") != job["startStep"]:
                raise TrainerFailure("CheckpointCorrupt", f"resume folder holds step {st.get('step')}, the job says {job['startStep']}")
        self.event({"type": "heartbeat", "note": "loading the prompt-optimizer LM"})
        self.po = PromptOptimizer(s.lm, self.device, self.dtype, job["seed"], job["stageKey"], self.log)
        self.event({"type": "heartbeat", "note": f"loading {s.family} model (frozen)"})
        self.family = load_family(s, self.device, self.dtype, _derive_seed(job["seed"], "base-model"))
        self.init_rollout_state()
        self.last_rewrites: list[dict] = []
        self._ck = ck
        if job["resumeDir"]:
            self.resume(job["resumeDir"])
        else:
            self.seed_fresh_start()
            own = job["initDirs"].get(job["stageKey"])
            if PromptOptimizer.has_lora(own):
                self.po.load_lora(own)
                self.log(f"LM LoRA initialised from {own}")

    @staticmethod
    def _read_state(d: str) -> dict:
        from . import checkpoint as ck

        try:
            with open(os.path.join(d, "state.json"), encoding="utf-8") as f:
                st = json.load(f)
            if st.get("format") != ck.FORMAT or st.get("kind") != KIND:
                raise ValueError(f"state.json is not a {KIND} checkpoint (format {st.get('format')!r}, kind {st.get('kind')!r})")
            PromptOptimizer.check_parts(d)
            return st
        except (OSError, ValueError) as err:
            raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {d}: {err}") from err

    def resume(self, d: str) -> None:
        st = self._read_state(d)
        try:
            if st["worldSize"] != self.world:
                raise ValueError(f"checkpoint was written by {st['worldSize']} ranks, this run has {self.world}")
            self.po.load_parts(d)
            self._ck.restore_rng(self._ck.read_rng(d, self.rank), self.gen)
        except Exception as err:  # noqa: BLE001 (any unreadable part makes the folder unusable)
            raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {d}: {err}") from err
        self.sampler.cursor = st["cursor"]
        self.reward_history = st.get("rewardHistory", [])
        self.last_metrics = st.get("lastMetrics", {})
        self.last_rewrites = st.get("lastRewrites", [])

    def save(self) -> None:
        ck = self._ck
        d = os.path.join(self.job["outputDir"], f"checkpoint-{self.step}")
        self.event({"type": "heartbeat", "note": "writing checkpoint"})
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(os.path.join(tmp, "rng"))
        self.po.write_parts(tmp)
        with open(os.path.join(tmp, "rng", "rank-0.pt"), "wb") as f:
            f.write(ck.rng_state(self.gen))
        ck._json(os.path.join(tmp, "state.json"), {
            "format": ck.FORMAT, "kind": KIND, "step": self.step, "stage": self.job["stage"], "family": self.s.family,
            "worldSize": self.world, "cursor": self.sampler.cursor, "rewardHistory": self.reward_history,
            "lastMetrics": self.last_metrics, "lastRewrites": self.last_rewrites, "configDigest": self.job["configDigest"]})
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
        self.event({"type": "checkpoint", "step": self.step, "dir": d})

    # -- rendering (frozen generator, ODE)
    def render(self, prompts: list, noises: list[torch.Tensor]) -> list:
        """Images of `prompts` (generator prompt objects) from their initial noises, Euler ODE, in batches."""
        s = self.s
        images = []
        for b0 in range(0, len(prompts), s.batch_size):
            self.event({"type": "heartbeat", "note": f"rendering {b0}/{len(prompts)}"})
            sel = prompts[b0:b0 + s.batch_size]
            c = self.family.encode(sel)
            x = torch.cat(noises[b0:b0 + s.batch_size], 0)
            with torch.no_grad(), self.autocast():
                for i in range(s.sampling_steps):
                    sig, nxt = self.sigmas[i], self.sigmas[i + 1]
                    v = self.family.velocity(x, torch.full((len(sel),), sig), c).float()
                    x = x + v * (nxt - sig)
            images.extend(self.family.decode(x))
            if self.stop_requested():
                return images  # the caller drops the step
        return images

    def rollout(self, prompts: list) -> dict:
        """prompt → G rewrites (+ one shared noise per group). Returns the rollout record."""
        G = self.s.group_size
        roll = {"prompt_ids": [], "completions": [], "rewrites": [], "noise": []}
        for p in prompts:
            self.event({"type": "heartbeat", "note": f"rewriting {p.id}"})
            ids, comps, rws = self.po.rewrite_group(p.text, G, self.gen)
            roll["prompt_ids"].append(ids)
            roll["completions"].append(comps)
            roll["rewrites"].append(rws)
            roll["noise"].append(self.family.noise(1, self.gen))  # one initial noise for the whole group
        return roll

    def score(self, prompts: list, roll: dict, images: list, valid: list[tuple[int, int]]) -> list[dict]:
        """Rewards of every sample (prompt-major): scores of the rendered ones, `malformedReward` for the others."""
        L, keys = self.s.lm, self.rewards.keys
        G = self.s.group_size
        rewards = [{k: float(L.malformed_reward) for k in keys} for _ in range(len(prompts) * G)]
        if valid:
            meta = []
            for pi, gi in valid:
                p = prompts[pi]
                text = p.text if L.align_to == "original" else roll["rewrites"][pi][gi].text
                meta.append({"text": text, **({"category": p.category} if p.category else {})})
            scores = self.rewards.score(images, meta)
            for j, (pi, gi) in enumerate(valid):
                rewards[pi * G + gi] = {k: scores[k][j] for k in keys}
        return rewards

    def run_step(self) -> dict:
        s = self.s
        from .advantages import compute_advantages

        t0 = time.time()
        P, G = s.prompts_per_epoch, s.group_size
        abandon_if_asked = self.step_abandoner()

        prompts = self.sampler.next(P)
        roll = self.rollout(prompts)
        abandon_if_asked()
        t1 = time.time()
        valid = [(pi, gi) for pi in range(P) for gi in range(G) if roll["rewrites"][pi][gi].malformed is None]
        images = self.render([render_prompt(prompts[pi], roll["rewrites"][pi][gi].text) for pi, gi in valid],
                             [roll["noise"][pi] for pi, _ in valid])
        abandon_if_asked()
        t2 = time.time()
        self.event({"type": "heartbeat", "note": "scoring"})
        rewards = self.score(prompts, roll, images, valid)
        keys = self.rewards.keys
        groups = [f"{k // G}:{prompts[k // G].id}" for k in range(P * G)]
        adv = compute_advantages(groups, rewards, {k: s.reward_weights[k] for k in keys}, s.adv_std, s.adv_eps, s.adv_clip)
        abandon_if_asked()
        t3 = time.time()
        up = self.po.update(list(zip(roll["prompt_ids"], roll["completions"])), adv.advantages)
        t4 = time.time()
        m = self.rollout_metrics(prompts, roll, rewards, adv, keys)
        m.update(up)
        m.update({"step_seconds": t4 - t0, "rewrite_seconds": t1 - t0, "render_seconds": t2 - t1, "reward_seconds": t3 - t2,
                  "train_seconds": t4 - t3})
        return {k: (float(v) if math.isfinite(v) else 0.0) for k, v in m.items()}

    def rollout_metrics(self, prompts, roll, rewards, adv, keys) -> dict:
        """Reward per key (over all samples, i.e. what the advantages saw, penalties included), the reward of the
        well-formed ones, rewrite length, malformed fraction per reason; keeps the step's rewrites for state.json."""
        from .rewrite import MALFORMED_REASONS

        rws = [r for group in roll["rewrites"] for r in group]
        n = len(rws)
        ok = [i for i, r in enumerate(rws) if r.malformed is None]
        A = adv.advantages
        a_mean = sum(A) / len(A)
        m = {"reward": sum(adv.weighted_raw) / n}
        for k in keys:
            m[f"reward_{k}"] = sum(r[k] for r in rewards) / n
        m["reward_wellformed"] = sum(adv.weighted_raw[i] for i in ok) / len(ok) if ok else 0.0
        m.update({"adv_mean": a_mean, "adv_std": math.sqrt(sum((a - a_mean) ** 2 for a in A) / len(A)),
                  "zero_std_ratio": adv.zero_std_fraction, "malformed_frac": (n - len(ok)) / n,
                  "rewrite_words": sum(r.words for r in rws) / n, "rewrite_tokens": sum(r.tokens for r in rws) / n})
        for reason in MALFORMED_REASONS:
            m[f"malformed_{reason.replace('-', '_')}"] = sum(1 for r in rws if r.malformed == reason) / n
        G = self.s.group_size
        self.last_rewrites = [{"prompt": prompts[i // G].text, "rewrite": r.text[:2000], "malformed": r.malformed,
                               "reward": adv.weighted_raw[i]} for i, r in enumerate(rws)]
        best = max(range(n), key=lambda i: adv.weighted_raw[i])
        print(f"[rewrite] step {self.step + 1} best ({adv.weighted_raw[best]:.4f}): {prompts[best // G].text!r} -> {rws[best].text[:300]!r}",
              file=sys.stderr, flush=True)
        return m
