"""`python -m realgen_torch.train --job job.json`: the Flow-GRPO stage-2 trainer (RealGen V1 "fast guard" recipe)
speaking the realgen-trainer/1 protocol (docs/trainer-protocol.md).

One step = one GRPO epoch:
  1. every rank draws the same `promptsPerEpoch` prompts and generates its share of the `promptsPerEpoch × groupSize`
     samples: ODE (Euler) steps, except an SDE window of `sdeWindow.size` steps starting at a random step in
     [startMin, startMax], where the transition x → x' and its log-probability are recorded (sde.py);
  2. every rank sends its decoded images to the reward service (one request per rank per step); the scores are
     gathered, and per-key per-prompt group z-score advantages are computed (advantages.py);
  3. policy update through LoRA (peft): clipped surrogate with GRPO-Guard ratio normalisation (surrogate.py), plus
     β·KL against the frozen reference (adapter disabled), gradient accumulation, gradients all-reduced across ranks.
With `trainer.numProcesses` > 1 and no torchrun environment, this process launches torchrun itself (gloo on CPU,
nccl on GPU) and relays rank 0's events.

The same command runs stage 1 (the prompt-optimizer LM, stage1.py) and stage 3 (both policies, joint.py): `main`
dispatches on the job's stage; both reuse this class's loop, SIGTERM and wall-clock handling.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import traceback

from .protocol import TrainerFailure, emit, read_job_spec
from .settings import read_settings

# Models load from local folders only (no hub downloads); set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
STOP_FILE_ENV = "REALGEN_TORCH_STOP_FILE"
LAUNCHER_PID_ENV = "REALGEN_TORCH_LAUNCHER_PID"
PROCESS_START = time.time()  # the segment's wall clock starts with the process, model loading included


def _derive_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def _set_pdeathsig() -> None:
    """Die with the parent (Linux): a launcher killed by SIGKILL takes torchrun and the ranks with it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------- launcher (numProcesses > 1)

def launch(job_file: str, job: dict, nproc: int) -> int:
    """Runs torchrun in its own session (so that the supervisor's SIGTERM to our group does not reach torchrun's
    agent, which would SIGKILL the ranks after its own timeout); SIGTERM here is relayed through a stop file that
    every rank checks at its step boundary. Rank 0's stdout (the events) is passed through line by line."""
    stop_file = os.path.join(job["outputDir"], f".stop-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.remove(stop_file)
    signal.signal(signal.SIGTERM, lambda *_: open(stop_file, "w").close())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               **{STOP_FILE_ENV: stop_file, LAUNCHER_PID_ENV: str(os.getpid())})
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--nnodes=1", "--master-addr=127.0.0.1",
           f"--master-port={port}", "-m", "realgen_torch.train", "--job", job_file]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, start_new_session=True, preexec_fn=_set_pdeathsig, text=True, bufsize=1)
    done = error = False
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                t = json.loads(line).get("type")
                done, error = done or t == "done", error or t == "error"
    rc = proc.wait()
    with contextlib.suppress(FileNotFoundError):
        os.remove(stop_file)
    if error:
        return 1
    if done and rc == 0:
        return 0
    emit({"type": "error", "kind": "Crash", "message": f"torchrun exited with status {rc} without a done event"})
    return 1


# ---------------------------------------------------------------- one rank

class _Abandoned(Exception):
    """SIGTERM during sampling or scoring: the step is dropped and its start state restored."""


class Trainer:
    def __init__(self, job: dict, s):
        import numpy as np
        import torch
        import torch.distributed as dist

        self.job, self.s = job, s
        self.torch, self.np, self.dist = torch, np, dist
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.is_main = self.rank == 0
        self.terminating = False
        self.stop_file = os.environ.get(STOP_FILE_ENV)
        if self.world > 1:
            _set_pdeathsig()
        signal.signal(signal.SIGTERM, self._on_sigterm)

        torch.set_num_threads(s.threads)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
        use_cuda = bool(job["gpuIds"]) and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        else:
            self.device = torch.device("cpu")
        if s.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=use_cuda)
            torch.backends.cudnn.benchmark = False
        bf16_ok = use_cuda and torch.cuda.is_bf16_supported()
        self.dtype = torch.bfloat16 if (s.precision in ("auto", "bf16") and bf16_ok) else torch.float32
        if s.precision == "bf16" and not bf16_ok:
            self.log("precision bf16 requested but the device does not support it: using fp32")
        if self.world > 1:
            from datetime import timedelta

            dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=s.dist_timeout_s))

    # -- helpers
    def log(self, msg: str) -> None:
        print(f"[rank {self.rank}] {msg}", file=sys.stderr, flush=True)

    def event(self, e: dict) -> None:
        if self.is_main:
            emit(e)

    def _on_sigterm(self, *_):
        self.terminating = True

    def stop_requested(self) -> bool:
        return self.terminating or (self.stop_file is not None and os.path.exists(self.stop_file))

    def autocast(self):
        if self.dtype == self.torch.bfloat16:
            return self.torch.autocast(device_type=self.device.type, dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def step_abandoner(self):
        """For the step now starting: a check to call between its phases (before the policy update). On a stop request
        (agreed by all ranks) it puts the prompt cursor and the noise generator back where the step began, so nothing of
        the step remains, and abandons it (`_Abandoned`); the checkpoint then written is the last completed step's."""
        from . import checkpoint as ck

        cursor, rng = self.sampler.cursor, ck.rng_state(self.gen)

        def abandon_if_asked():
            if self.all_max(self.stop_requested()):
                self.sampler.cursor = cursor
                ck.restore_rng(rng, self.gen)
                raise _Abandoned()

        return abandon_if_asked

    def all_max(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = self.torch.tensor([1.0 if flag else 0.0], device=self.device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def all_gather(self, obj):
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        self.dist.all_gather_object(out, obj)
        return out

    # -- setup
    def setup(self) -> None:
        torch = self.torch
        s, job = self.s, self.job
        from peft import LoraConfig, get_peft_model

        from .families import load_family

        if job["resumeDir"]:  # fail fast, before loading any model
            from . import checkpoint as ck

            try:
                st = ck.read_state(job["resumeDir"])
            except (OSError, ValueError) as err:
                raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {job['resumeDir']}: {err}") from err
            if st.get("step") != job["startStep"]:
                raise TrainerFailure("CheckpointCorrupt", f"resume folder holds step {st.get('step')}, the job says {job['startStep']}")
        self.event({"type": "heartbeat", "note": f"loading {s.family} model"})
        self.family = load_family(s, self.device, self.dtype, _derive_seed(job["seed"], "base-model"))
        lcfg = LoraConfig(r=s.lora_rank, lora_alpha=s.lora_alpha, target_modules=s.lora_targets, lora_dropout=0.0,
                          init_lora_weights="gaussian" if s.lora_init == "gaussian" else True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_derive_seed(job["seed"], job["stageKey"], "lora-init"))
            self.model = get_peft_model(self.family.net, lcfg)
        self.lora_config = lcfg.to_dict()
        self.params = [p for _, p in self.model.named_parameters() if p.requires_grad]
        if not self.params:
            raise TrainerFailure("ConfigInvalid", f"LoRA targets {s.lora_targets} match no module of the {s.family} model")
        self.optimizer = torch.optim.AdamW(self.params, lr=s.learning_rate, betas=(s.adam_beta1, s.adam_beta2), eps=s.adam_eps,
                                           weight_decay=s.weight_decay)
        warm = s.lr_warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda k: min(1.0, (k + 1) / warm) if warm > 0 else 1.0)
        self.ema = [p.detach().clone() for p in self.params] if s.ema_decay is not None else None
        self.opt_steps = 0  # optimizer steps so far in this stage (the EMA schedule counts them)
        self.init_rollout_state()
        if job["resumeDir"]:
            self.resume(job["resumeDir"])
        else:
            self.seed_fresh_start()
            self.warm_start()

    def init_rollout_state(self) -> None:
        """What every stage keeps besides its models: the σ schedule, the seeded prompt sampler and noise generator, the
        reward client, the step and the reward history (a resume then overwrites the stateful ones)."""
        s, job = self.s, self.job
        from .data import PromptSampler, load_prompts
        from .rewards import RewardClient
        from .sde import sigma_schedule

        self.sigmas = sigma_schedule(s.sampling_steps, s.sigma_shift)
        self.sampler = PromptSampler(load_prompts(s.realbench_dir, s.prompt_field), job["seed"], job["stageKey"])
        self.gen = self.torch.Generator().manual_seed(_derive_seed(job["seed"], job["stageKey"], "rank", self.rank))
        keys = sorted(k for k, w in s.reward_weights.items() if w > 0)
        self.rewards = RewardClient(s.reward_url, keys, RewardClient.token_from(s.reward_token_env, s.reward_token_file),
                                    s.reward_timeout_s, s.reward_retries, int(s.reward_max_request_mib * (1 << 20)))
        self.step = job["startStep"]
        self.reward_history: list[dict] = []
        self.last_metrics: dict = {}

    def seed_fresh_start(self) -> None:
        """Python, numpy and torch global RNGs of a fresh (not resumed) stage, per rank."""
        seed = self.job["seed"]
        random.seed(_derive_seed(seed, "python", self.rank))
        self.np.random.seed(_derive_seed(seed, "numpy", self.rank) % 2**32)
        self.torch.manual_seed(_derive_seed(seed, "torch", self.rank))

    def resume(self, d: str) -> None:
        from . import checkpoint as ck

        try:
            st = ck.read_state(d)
            if st["step"] != self.job["startStep"]:
                raise ValueError(f"resume folder holds step {st['step']}, the job says {self.job['startStep']}")
            if st["worldSize"] != self.world:
                raise ValueError(f"checkpoint was written by {st['worldSize']} ranks, this run has {self.world} (per-rank RNG state)")
            if st["family"] != self.s.family:
                raise ValueError(f"checkpoint is of family {st['family']}, the config says {self.s.family}")
            if self.ema is not None:
                if not st.get("ema"):
                    raise ValueError("the config has grpo.ema but the checkpoint holds no EMA weights")
                self._load_lora(ck.read_lora(d))
                for e, p in zip(self.ema, self.params):
                    e.copy_(p.detach())
                self._load_lora(ck.read_lora(d, live=True))
            else:
                self._load_lora(ck.read_lora(d, live=bool(st.get("ema"))))
            self.optimizer.load_state_dict(self.torch.load(os.path.join(d, "optimizer.pt"), map_location=self.device, weights_only=True))
            self.scheduler.load_state_dict(self.torch.load(os.path.join(d, "scheduler.pt"), weights_only=True))
            ck.restore_rng(ck.read_rng(d, self.rank), self.gen)
        except TrainerFailure:
            raise
        except Exception as err:  # noqa: BLE001 (any unreadable part makes the folder unusable)
            raise TrainerFailure("CheckpointCorrupt", f"cannot resume from {d}: {err}") from err
        self.sampler.cursor = st["cursor"]
        self.opt_steps = int(st.get("optimizerSteps", 0))
        self.reward_history = st.get("rewardHistory", [])
        self.last_metrics = st.get("lastMetrics", {})

    def _load_lora(self, sd) -> None:
        from peft import set_peft_model_state_dict

        res = set_peft_model_state_dict(self.model, sd)
        if getattr(res, "unexpected_keys", None):
            raise ValueError(f"unexpected LoRA keys {res.unexpected_keys[:3]}")

    def warm_start(self) -> None:
        """Stage n starts from the LoRA of the newest earlier checkpoint given in initDirs (weights only)."""
        from peft import set_peft_model_state_dict

        from . import checkpoint as ck

        own = self.job["initDirs"].get(self.job["stageKey"])
        dirs = [own] if own else [v for k, v in sorted(self.job["initDirs"].items()) if k != self.job["stageKey"]][-1:]
        for d in dirs:
            if os.path.isfile(os.path.join(d, ck.LORA_DIR, ck.LORA_FILE)):
                set_peft_model_state_dict(self.model, ck.read_lora(d))
                if self.ema is not None:
                    for e, p in zip(self.ema, self.params):
                        e.copy_(p.detach())
                self.log(f"LoRA initialised from {d}")

    # -- checkpoint
    def save(self) -> None:
        from peft import get_peft_model_state_dict

        from . import checkpoint as ck

        blobs = self.all_gather(ck.rng_state(self.gen))
        if self.is_main:
            d = os.path.join(self.job["outputDir"], f"checkpoint-{self.step}")
            self.event({"type": "heartbeat", "note": "writing checkpoint"})
            live = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.model).items()}
            policy = live
            if self.ema is not None:  # lora/ = EMA weights, live/ = trained weights
                saved = [p.detach().clone() for p in self.params]
                with self.torch.no_grad():
                    for e, p in zip(self.ema, self.params):
                        p.copy_(e)
                    policy = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.model).items()}
                    for t, p in zip(saved, self.params):
                        p.copy_(t)
            ck.write_checkpoint(d, lora_state=policy, lora_config=self.lora_config, live_state=live if self.ema is not None else None,
                                optimizer=self.optimizer, scheduler=self.scheduler, rng_blobs=blobs,
                                state={"step": self.step, "optimizerSteps": self.opt_steps, "ema": self.ema is not None, "stage": self.job["stage"], "family": self.s.family, "worldSize": self.world,
                                       "cursor": self.sampler.cursor, "rewardHistory": self.reward_history,
                                       "lastMetrics": self.last_metrics, "configDigest": self.job["configDigest"], **self.extra_state()})
            self.write_extra_parts(d)
            self.event({"type": "checkpoint", "step": self.step, "dir": d})
        if self.world > 1:
            self.dist.barrier()

    def extra_state(self) -> dict:
        """Hook (stage 3, joint.py): more fields for state.json."""
        return {}

    def write_extra_parts(self, d: str) -> None:
        """Hook (stage 3, joint.py): more files in the checkpoint folder `d`, written before it is reported."""

    # -- the loop
    def run(self) -> None:
        started = PROCESS_START
        last_saved = self.step
        reason = "budget"
        while self.step < self.job["stopAtStep"]:
            wall = time.time() - started > self.job["wallClockSeconds"]
            if self.all_max(self.stop_requested()):
                reason = "signal"
                break
            if self.all_max(wall):
                reason = "wallclock"
                break
            try:
                metrics = self.run_step()
            except _Abandoned:
                self.log(f"SIGTERM during step {self.step + 1}: dropped it before the policy update")
                reason = "signal"
                break
            self.step += 1
            det = {k: v for k, v in metrics.items() if not k.endswith("_seconds") and k != "samples_per_second"}
            self.last_metrics = det
            self.reward_history.append({"step": self.step, "reward": metrics["reward"]})
            self.event({"type": "progress", "step": self.step, "metrics": metrics})
            if self.step % self.job["saveEvery"] == 0:
                self.save()
                last_saved = self.step
        if last_saved != self.step:
            self.save()
        self.event({"type": "done", "step": self.step, "reason": reason})

    def run_step(self) -> dict:
        torch, s = self.torch, self.s
        from .advantages import compute_advantages

        t0 = time.time()
        P, G = s.prompts_per_epoch, s.group_size
        # Until the policy update starts, a SIGTERM drops the step (and a resume stays bit-exact).
        abandon_if_asked = self.step_abandoner()

        prompts = self.sampler.next(P)
        n_local = P * G // self.world
        mine = list(range(self.rank * n_local, (self.rank + 1) * n_local))
        sample_prompts = [prompts[k // G] for k in mine]
        cond = self.family.encode(sample_prompts)

        # 1. sampling with log-probs
        xs, xns, lps, mus, tidx, images = [], [], [], [], [], []
        self.model.eval()
        for b0 in range(0, n_local, s.batch_size):
            self.event({"type": "heartbeat", "note": f"sampling {b0}/{n_local}"})
            sel = list(range(b0, min(n_local, b0 + s.batch_size)))
            c = {k: v[sel] for k, v in cond.items()}
            rec, x = self.sample_batch(c, self.family.noise(len(sel), self.gen))
            xs.append(torch.stack(rec["x"], 1))
            xns.append(torch.stack(rec["xn"], 1))
            lps.append(torch.stack(rec["lp"], 1))
            mus.append(torch.stack(rec["mu"], 1))
            tidx += [rec["t"]] * len(sel)
            images.extend(self.family.decode(x))
            abandon_if_asked()
        xs, xns, lps, mus = (torch.cat(a, 0) for a in (xs, xns, lps, mus))
        t1 = time.time()

        # 2. rewards (one request per rank) and advantages over the gathered batch
        self.event({"type": "heartbeat", "note": "scoring"})
        local = self.rewards.score(images, [{"text": p.text, **({"category": p.category} if p.category else {})} for p in sample_prompts])
        gathered = self.all_gather(local)
        keys = self.rewards.keys
        rewards = [{k: part[k][i] for k in keys} for part in gathered for i in range(len(part[keys[0]]))]
        groups = [f"{k // G}:{prompts[k // G].id}" for k in range(P * G)]
        adv = compute_advantages(groups, rewards, {k: s.reward_weights[k] for k in keys}, s.adv_std, s.adv_eps, s.adv_clip)
        adv_local = torch.tensor([adv.advantages[k] for k in mine], dtype=torch.float32, device=self.device)
        abandon_if_asked()
        t2 = time.time()

        # 3. policy update
        acc, rmin, rmax, gnorm, opt_steps = self.policy_update(xs, xns, lps, mus, tidx, adv_local, cond, n_local)
        t3 = time.time()

        # metrics (means over the gathered batch / all ranks)
        n = max(1, acc["n"])
        vec = torch.tensor([acc[k] / n for k in ("policy_loss", "kl", "clipfrac", "approx_kl", "ratio_mean", "inactive_frac")] + [-rmin, rmax],
                           dtype=torch.float64, device=self.device)  # nccl reduces device tensors only
        if self.world > 1:
            mean_part, ext = vec[:6].clone(), vec[6:].clone()
            self.dist.all_reduce(mean_part)
            self.dist.all_reduce(ext, op=self.dist.ReduceOp.MAX)
            vec = torch.cat([mean_part / self.world, ext])
        vec = vec.cpu()
        A = adv.advantages
        a_mean = sum(A) / len(A)
        m = {"reward": sum(adv.weighted_raw) / len(adv.weighted_raw)}
        for k in keys:
            m[f"reward_{k}"] = sum(r[k] for r in rewards) / len(rewards)
        m.update({
            "adv_mean": a_mean, "adv_std": math.sqrt(sum((a - a_mean) ** 2 for a in A) / len(A)), "adv_abs_mean": sum(abs(a) for a in A) / len(A),
            "zero_std_ratio": adv.zero_std_fraction,
            "policy_loss": float(vec[0]), "kl": float(vec[1]), "clipfrac": float(vec[2]), "approx_kl": float(vec[3]),
            "ratio_mean": float(vec[4]), "inactive_frac": float(vec[5]), "ratio_min": float(-vec[6]), "ratio_max": float(vec[7]),
            "grad_norm": gnorm, "lr": float(self.scheduler.get_last_lr()[0]), "optimizer_steps": float(opt_steps),
            "step_seconds": t3 - t0, "sample_seconds": t1 - t0, "reward_seconds": t2 - t1, "train_seconds": t3 - t2,
            "samples_per_second": P * G / max(1e-9, t3 - t0),
        })
        return {k: (float(v) if math.isfinite(v) else 0.0) for k, v in m.items()}

    def policy_update(self, xs, xns, lps, mus, tidx, adv_local, cond, n_local):
        """The diffusion policy update over this rank's recorded samples (clipped surrogate + β·KL, gradient
        accumulation, all-reduce, optimizer steps). Returns (sums of the per-micro-batch stats, ratio min, ratio max,
        last grad norm, optimizer steps)."""
        torch, s, W = self.torch, self.s, self.s.window_size
        self.model.train()
        acc = {"policy_loss": 0.0, "kl": 0.0, "clipfrac": 0.0, "approx_kl": 0.0, "ratio_mean": 0.0, "inactive_frac": 0.0, "n": 0}
        rmin, rmax, gnorm, opt_steps = math.inf, -math.inf, 0.0, 0
        tidx_t = torch.tensor(tidx, dtype=torch.long)
        for _ in range(s.inner_epochs):
            perm = torch.randperm(n_local, generator=self.gen)
            micro = [perm[i:i + s.batch_size] for i in range(0, n_local, s.batch_size)]
            for g0 in range(0, len(micro), s.grad_accum_steps):
                group = micro[g0:g0 + s.grad_accum_steps]
                for idx in group:
                    c = {k: v[idx] for k, v in cond.items()}
                    for j in range(W):
                        out = self.train_micro(xs[idx, j], xns[idx, j], lps[idx, j], mus[idx, j], tidx_t[idx, j].tolist(),
                                               adv_local[idx], c, scale=1.0 / (W * len(group)))
                        for k in ("policy_loss", "kl", "clipfrac", "approx_kl", "ratio_mean", "inactive_frac"):
                            acc[k] += out[k]
                        acc["n"] += 1
                        rmin, rmax = min(rmin, out["ratio_min"]), max(rmax, out["ratio_max"])
                gnorm = self.optimizer_step()
                opt_steps += 1
        return acc, rmin, rmax, gnorm, opt_steps

    def sample_batch(self, c: dict, x):
        """One sampling batch from initial noise `x`: Euler ODE steps, except the SDE window (its start drawn from the
        trainer's generator) where x, x', μ and ℓ are recorded. Returns (record, final x)."""
        torch, s = self.torch, self.s
        from .sde import sde_coefficients, sde_step

        n, W, sig_max = x.shape[0], s.window_size, self.sigmas[1]
        start = int(torch.randint(s.window_start_min, s.window_start_max + 1, (1,), generator=self.gen))
        rec = {"x": [], "xn": [], "lp": [], "mu": [], "t": []}
        with torch.no_grad(), self.autocast():
            for i in range(s.sampling_steps):
                sig, nxt = self.sigmas[i], self.sigmas[i + 1]
                v = self.family.velocity(x, torch.full((n,), sig), c).float()
                if start <= i < start + W:
                    co = sde_coefficients(sig, nxt, s.noise_level, sig_max)
                    xi = torch.randn(x.shape, generator=self.gen, dtype=torch.float32).to(self.device)
                    x_next, mu, lp = sde_step(x, v, co, xi)
                    for key, val in (("x", x), ("xn", x_next), ("lp", lp), ("mu", mu)):
                        rec[key].append(val)
                    rec["t"].append(i)
                else:
                    x_next = x + v * (nxt - sig)
                x = x_next
        return rec, x

    def train_micro(self, x, x_next, old_lp, old_mu, t_idx: list[int], adv, cond, scale: float) -> dict:
        torch, s = self.torch, self.s
        from .sde import LOG_SQRT_2PI, sde_coefficients
        from .surrogate import clipped_surrogate

        co = [sde_coefficients(self.sigmas[t], self.sigmas[t + 1], s.noise_level, self.sigmas[1]) for t in t_idx]
        shape = (-1,) + (1,) * (x.dim() - 1)
        col = lambda f: torch.tensor([getattr(c, f) for c in co], dtype=torch.float32, device=self.device)  # noqa: E731
        kx, kv, tau, st, sqrt_dt = col("kx"), col("kv"), col("tau"), col("st"), col("sqrt_dt")
        sig = torch.tensor([self.sigmas[t] for t in t_idx], dtype=torch.float32)
        with self.autocast():
            v = self.family.velocity(x, sig, cond).float()
        mu = kx.view(shape) * x + kv.view(shape) * v
        lp = -((x_next - mu) ** 2).flatten(1).mean(1) / (2 * tau * tau) - torch.log(tau) - LOG_SQRT_2PI
        guard = {"mu": mu, "old_mu": old_mu, "st": st, "sqrt_dt": sqrt_dt} if s.ratio_norm else None
        sur = clipped_surrogate(lp, old_lp, adv, s.clip_range, guard)
        kl = torch.zeros((), device=self.device)
        if s.kl_beta > 0:
            with torch.no_grad(), self.model.disable_adapter(), self.autocast():
                v_ref = self.family.velocity(x, sig, cond).float()
            if s.kl_mode == "velocity-mse":
                kl = ((v - v_ref) ** 2).mean()
            else:
                mu_ref = kx.view(shape) * x + kv.view(shape) * v_ref
                kl = (((mu - mu_ref) ** 2).flatten(1).mean(1) / (2 * st * st)).mean()
        loss = sur.loss + s.kl_beta * kl
        (loss * scale).backward()
        return {"policy_loss": float(sur.loss.detach()), "kl": float(kl.detach()), "clipfrac": sur.clipfrac, "approx_kl": sur.approx_kl,
                "ratio_mean": float(sur.ratio.mean()), "ratio_min": float(sur.ratio.min()), "ratio_max": float(sur.ratio.max()),
                "inactive_frac": sur.inactive_frac}

    def optimizer_step(self) -> float:
        torch = self.torch
        if self.world > 1:
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.params])
            self.dist.all_reduce(flat)
            flat /= self.world
            o = 0
            for p in self.params:
                g = flat[o:o + p.numel()].view_as(p)
                if p.grad is None:
                    p.grad = g.clone()
                else:
                    p.grad.copy_(g)
                o += p.numel()
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.s.grad_clip_norm))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:  # the official EMAModuleWrapper rule: warm-up decay, updated every N optimizer steps
            decay = min((1 + self.opt_steps) / (10 + self.opt_steps), self.s.ema_decay)
            if (self.opt_steps + 1) % self.s.ema_every == 0:
                with torch.no_grad():
                    for e, p in zip(self.ema, self.params):
                        e.add_((1 - decay) * (p.detach() - e))
        self.opt_steps += 1
        return norm


def _error_kind(err: BaseException) -> str:
    if isinstance(err, TrainerFailure):
        return err.kind
    if "out of memory" in str(err).lower() or type(err).__name__ == "OutOfMemoryError":
        return "OutOfMemory"
    return "Crash"


def _die_with_launcher() -> None:
    """A rank runs in its own session (torchrun's choice): it must die with torchrun, also when torchrun and the
    launcher were killed before this line (the supervisor's stall watchdog fires while ranks still import torch,
    which takes seconds). Set PDEATHSIG first, then check that the launcher still lives; else nobody would ever
    kill this rank (found by `npm run chaos`: ranks left waiting for a rendezvous forever)."""
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    if launcher is None:
        return
    _set_pdeathsig()
    try:
        os.kill(int(launcher), 0)
    except ProcessLookupError:
        sys.exit(1)
    except (PermissionError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if "WORLD_SIZE" in os.environ:
        _die_with_launcher()
    rank = int(os.environ.get("RANK", "0"))
    trainer = None
    try:
        job = read_job_spec(argv)
        if job["stage"] in (1, 3):
            from .lm_settings import read_lm_settings

            s, lm_settings = read_lm_settings(job)
            s.lm = lm_settings
        else:
            s = read_settings(job)
        if s.num_processes > 1 and "WORLD_SIZE" not in os.environ:
            i = argv.index("--job") if "--job" in argv else -1
            job_file = argv[i + 1] if i >= 0 else os.environ["REALGEN_JOB_SPEC"]
            return launch(os.path.abspath(job_file), job, s.num_processes)
        if job["stage"] == 1:  # the prompt optimizer (stage1.py); stage 3 trains both policies (joint.py)
            from .stage1 import PromptOptimizerTrainer as cls
        elif job["stage"] == 3:
            from .joint import JointTrainer as cls
        else:
            cls = Trainer
        trainer = cls(job, s)
        trainer.setup()
        trainer.run()
        return 0
    except BaseException as err:  # noqa: BLE001 (every failure becomes an error event)
        if isinstance(err, SystemExit):
            raise
        traceback.print_exc(file=sys.stderr)
        if rank == 0:
            emit({"type": "error", "kind": _error_kind(err), "message": f"{type(err).__name__}: {err}"[:2000]})
        return 1
    finally:
        if trainer is not None and trainer.world > 1:
            with contextlib.suppress(Exception):
                trainer.dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
