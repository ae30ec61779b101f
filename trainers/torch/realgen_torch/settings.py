"""Every hyper-parameter of a run, read from the job spec's run config (`config.stages[stage-1]`).

The TypeScript config schema (configs/schema.ts) defines `grpo` for the built-in trainer; the fields this trainer
needs beyond it are read tolerantly here, with defaults, from `stages[i].trainer` and `stages[i].grpo` (see
trainers/torch/README.md, "Config fields"). A wrong type or value is `ConfigInvalid`, naming the field.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .protocol import TrainerFailure

MINI_LORA_TARGETS = ["c1", "c2", "film"]
# The paper's FLUX targets (spec §3.2).
FLUX_LORA_TARGETS = [
    "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
    "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2",
]


@dataclass
class Settings:
    # trainer
    family: str = "mini"
    pretrained: str | None = None
    tiny: bool = False
    num_processes: int = 1
    precision: str = "auto"
    threads: int = 1
    deterministic: bool = True
    resolution: int = 1024
    max_sequence_length: int = 512
    prompt_field: str = "prompt"
    lora_targets: list[str] = field(default_factory=list)
    reward_url: str = "http://127.0.0.1:18080"
    reward_token_env: str = "REALGEN_REWARD_TOKEN"
    reward_token_file: str | None = None
    reward_timeout_s: float = 120.0
    reward_retries: int = 5
    reward_max_request_mib: float = 48.0
    dist_timeout_s: float = 1800.0
    # grpo
    group_size: int = 2
    prompts_per_epoch: int = 1
    batch_size: int = 1
    learning_rate: float = 1e-4
    lr_warmup_steps: int = 0
    kl_beta: float = 0.0
    kl_mode: str = "velocity-mse"
    clip_range: float = 1e-4
    ratio_norm: bool = True
    sampling_steps: int = 28
    noise_level: float = 0.9
    sigma_shift: float = 1.0
    guidance: float = 3.5
    window_size: int = 1
    window_start_min: int = 0
    window_start_max: int = 0
    lora_rank: int = 64
    lora_alpha: float = 128.0
    lora_init: str = "gaussian"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    grad_accum_steps: int = 1
    inner_epochs: int = 1
    ema_decay: float | None = None
    ema_every: int = 8
    adv_std: str = "group"
    adv_eps: float = 1e-4
    adv_clip: float = 5.0
    # reward keys → weights (detector names, plus `alignment`)
    reward_weights: dict[str, float] = field(default_factory=dict)
    # data
    realbench_dir: str | None = None
    generator_json: str | None = None
    tokenizer_json: str | None = None


def _get(obj: dict, key: str, path: str, kind, default, check=None, problems=None):
    if key not in obj or obj[key] is None:
        return default
    v = obj[key]
    ok = isinstance(v, kind) and not (kind in (int, (int, float)) and isinstance(v, bool))
    if ok and check is not None:
        ok = check(v)
    if not ok:
        problems.append(f"{path}.{key}: invalid value {v!r}")
        return default
    return float(v) if kind == (int, float) else v


NUM = (int, float)


def read_settings(job: dict[str, Any]) -> Settings:
    cfg = job["config"]
    base = job["configBaseDir"]
    idx = job["stage"] - 1
    stages = cfg.get("stages")
    if not isinstance(stages, list) or idx >= len(stages) or not isinstance(stages[idx], dict):
        raise TrainerFailure("ConfigInvalid", f"stages[{idx}] does not exist")
    st = stages[idx]
    tr = st.get("trainer") or {}
    g = st.get("grpo") or {}
    if not isinstance(tr, dict) or not isinstance(g, dict):
        raise TrainerFailure("ConfigInvalid", f"stages[{idx}].trainer and .grpo must be mappings")
    P: list[str] = []
    tp, gp = f"stages[{idx}].trainer", f"stages[{idx}].grpo"
    rel = lambda p: p if p is None or os.path.isabs(p) else os.path.normpath(os.path.join(base, p))  # noqa: E731
    s = Settings()
    s.family = _get(tr, "family", tp, str, "mini", lambda v: v in ("mini", "flux"), P)
    s.pretrained = rel(_get(tr, "pretrained", tp, str, None, None, P))
    s.tiny = _get(tr, "tiny", tp, bool, False, None, P)
    s.num_processes = _get(tr, "numProcesses", tp, int, 1, lambda v: v >= 1, P)
    s.precision = _get(tr, "precision", tp, str, "auto", lambda v: v in ("auto", "bf16", "fp32"), P)
    s.threads = _get(tr, "threads", tp, int, 1, lambda v: v >= 1, P)
    s.deterministic = _get(tr, "deterministic", tp, bool, True, None, P)
    s.resolution = _get(tr, "resolution", tp, int, 1024 if s.family == "flux" else 64, lambda v: v >= 16 and v % 16 == 0, P)
    s.max_sequence_length = _get(tr, "maxSequenceLength", tp, int, 512, lambda v: v >= 1, P)
    s.prompt_field = _get(tr, "promptField", tp, str, "prompt", lambda v: v in ("prompt", "long_prompt"), P)
    s.lora_targets = _get(tr, "loraTargets", tp, list, MINI_LORA_TARGETS if s.family == "mini" else FLUX_LORA_TARGETS,
                          lambda v: len(v) > 0 and all(isinstance(x, str) for x in v), P)
    s.dist_timeout_s = _get(tr, "distTimeoutSeconds", tp, NUM, 1800.0, lambda v: v > 0, P)
    rw = tr.get("reward") or {}
    service = (cfg.get("reward") or {}).get("service") or {}
    s.reward_url = _get(rw, "url", f"{tp}.reward", str, "http://" + str(service.get("listen", "127.0.0.1:18080")), None, P)
    s.reward_url = os.environ.get("REALGEN_REWARD_URL", s.reward_url).rstrip("/")
    s.reward_token_env = _get(rw, "tokenEnv", f"{tp}.reward", str, "REALGEN_REWARD_TOKEN", None, P)
    s.reward_token_file = rel(service.get("tokenFile")) if isinstance(service.get("tokenFile"), str) else None
    s.reward_timeout_s = _get(rw, "timeoutSeconds", f"{tp}.reward", NUM, 120.0, lambda v: v > 0, P)
    s.reward_retries = _get(rw, "retries", f"{tp}.reward", int, 5, lambda v: v >= 0, P)
    s.reward_max_request_mib = _get(rw, "maxRequestMiB", f"{tp}.reward", NUM, 48.0, lambda v: v > 0, P)

    pos = lambda v: v > 0  # noqa: E731
    s.group_size = _get(g, "groupSize", gp, int, None, lambda v: v >= 2, P)
    s.prompts_per_epoch = _get(g, "promptsPerEpoch", gp, int, None, lambda v: v >= 1, P)
    s.batch_size = _get(g, "batchSize", gp, int, None, lambda v: v >= 1, P)
    s.learning_rate = _get(g, "learningRate", gp, NUM, None, pos, P)
    s.lr_warmup_steps = _get(g, "lrWarmupSteps", gp, int, 0, lambda v: v >= 0, P)
    s.kl_beta = _get(g, "klBeta", gp, NUM, 0.0, lambda v: v >= 0, P)
    s.kl_mode = _get(g, "klMode", gp, str, "velocity-mse", lambda v: v in ("velocity-mse", "mean-kl"), P)
    s.clip_range = _get(g, "clipRange", gp, NUM, None, pos, P)
    s.ratio_norm = _get(g, "ratioNorm", gp, bool, True, None, P)
    s.sampling_steps = _get(g, "samplingSteps", gp, int, None, lambda v: 1 <= v <= 1000, P)
    s.noise_level = _get(g, "noiseLevel", gp, NUM, 0.9, lambda v: 0 <= v <= 10, P)
    s.sigma_shift = _get(g, "sigmaShift", gp, NUM, 3.0 if s.family == "flux" else 1.0, pos, P)
    s.guidance = _get(g, "guidance", gp, NUM, 3.5, lambda v: v >= 0, P)
    win = g.get("sdeWindow")
    if not isinstance(win, dict):
        P.append(f"{gp}.sdeWindow: required ({{size, startMin, startMax}}) by the torch trainer")
        win = {}
    s.window_size = _get(win, "size", f"{gp}.sdeWindow", int, 1, lambda v: v >= 1, P)
    s.window_start_min = _get(win, "startMin", f"{gp}.sdeWindow", int, 0, lambda v: v >= 0, P)
    s.window_start_max = _get(win, "startMax", f"{gp}.sdeWindow", int, 0, lambda v: v >= 0, P)
    lora = g.get("lora") or {}
    s.lora_rank = _get(lora, "rank", f"{gp}.lora", int, 8 if s.family == "mini" else 64, lambda v: v >= 1, P)
    s.lora_alpha = _get(lora, "alpha", f"{gp}.lora", NUM, 2.0 * s.lora_rank, pos, P)
    s.lora_init = _get(lora, "init", f"{gp}.lora", str, "gaussian", lambda v: v in ("gaussian", "default"), P)
    adam = g.get("adam") or {}
    s.adam_beta1 = _get(adam, "beta1", f"{gp}.adam", NUM, 0.9, lambda v: 0 <= v < 1, P)
    s.adam_beta2 = _get(adam, "beta2", f"{gp}.adam", NUM, 0.999, lambda v: 0 <= v < 1, P)
    s.adam_eps = _get(adam, "eps", f"{gp}.adam", NUM, 1e-8, pos, P)
    s.weight_decay = _get(adam, "weightDecay", f"{gp}.adam", NUM, 1e-4, lambda v: v >= 0, P)
    s.grad_clip_norm = _get(g, "gradClipNorm", gp, NUM, 1.0, pos, P)
    s.grad_accum_steps = _get(g, "gradientAccumulationSteps", gp, int, 1, lambda v: v >= 1, P)
    s.inner_epochs = _get(g, "innerEpochs", gp, int, 1, lambda v: v >= 1, P)
    ema = g.get("ema")
    if ema is not None:
        if not isinstance(ema, dict):
            P.append(f"{gp}.ema: expected {{decay, everyOptimizerSteps}}")
        else:
            s.ema_decay = _get(ema, "decay", f"{gp}.ema", NUM, 0.9, lambda v: 0 <= v < 1, P)
            s.ema_every = _get(ema, "everyOptimizerSteps", f"{gp}.ema", int, 8, lambda v: v >= 1, P)
    adv = g.get("advantage") or {}
    s.adv_std = _get(adv, "std", f"{gp}.advantage", str, "group", lambda v: v in ("group", "global"), P)
    s.adv_eps = _get(adv, "eps", f"{gp}.advantage", NUM, 1e-4, lambda v: v >= 0, P)
    s.adv_clip = _get(adv, "clip", f"{gp}.advantage", NUM, 5.0, pos, P)
    for name, val in (("groupSize", s.group_size), ("promptsPerEpoch", s.prompts_per_epoch), ("batchSize", s.batch_size),
                      ("learningRate", s.learning_rate), ("clipRange", s.clip_range), ("samplingSteps", s.sampling_steps)):
        if val is None and not any(p.startswith(f"{gp}.{name}:") for p in P):
            P.append(f"{gp}.{name}: required")
    if not P:
        if s.window_start_min > s.window_start_max:
            P.append(f"{gp}.sdeWindow: expected startMin ≤ startMax")
        elif s.window_start_max + s.window_size > s.sampling_steps:
            P.append(f"{gp}.sdeWindow: startMax + size ({s.window_start_max + s.window_size}) exceeds samplingSteps ({s.sampling_steps})")
        if (s.prompts_per_epoch * s.group_size) % s.num_processes != 0:
            P.append(f"{gp}: promptsPerEpoch × groupSize ({s.prompts_per_epoch * s.group_size}) must be a multiple of {tp}.numProcesses ({s.num_processes})")
    if s.family == "flux" and not s.tiny and not s.pretrained:
        P.append(f"{tp}.pretrained: required for family flux (a local FLUX.1-dev folder), unless tiny: true")

    reward = cfg.get("reward") or {}
    for i, d in enumerate(reward.get("detectors") or []):
        if isinstance(d, dict) and isinstance(d.get("name"), str):
            s.reward_weights[d["name"]] = float(d.get("weight", 1))
        else:
            P.append(f"reward.detectors[{i}]: expected {{name, manifest, weight}}")
    al = reward.get("alignment")
    if isinstance(al, dict):
        s.reward_weights["alignment"] = float(al.get("weight", 1))
    if not any(w > 0 for w in s.reward_weights.values()):
        P.append("reward: at least one reward weight must be > 0")
    models = cfg.get("models") or {}
    s.generator_json = rel(models.get("generator")) if isinstance(models.get("generator"), str) else None
    s.tokenizer_json = rel(models.get("tokenizer")) if isinstance(models.get("tokenizer"), str) else None
    src = (cfg.get("realbench") or {}).get("source") or {}
    s.realbench_dir = rel(src.get("dir")) if isinstance(src.get("dir"), str) else None
    if s.family == "mini" and not (s.generator_json and s.tokenizer_json):
        P.append("models.generator and models.tokenizer: required by the mini family")
    if P:
        raise TrainerFailure("ConfigInvalid", "; ".join(P))
    return s
