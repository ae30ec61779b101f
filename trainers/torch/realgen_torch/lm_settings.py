"""Settings of the prompt optimizer (stage 1 and the LM half of stage 3), read tolerantly like settings.py.

  stages[i].trainer.lm   the model and its generation (both stages)
  stages[i].grpo         stage 1: the LM's optimisation (groupSize, promptsPerEpoch, learningRate, clipRange, klBeta, …)
  stages[i].lmGrpo       stage 3: the LM's optimisation (the diffusion model's stays in `grpo`, as in stage 2)

Field list with types and defaults: trainers/torch/README.md, "Stage 1 and 3". A wrong value is `ConfigInvalid`.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

from .protocol import TrainerFailure
from .rewrite import DEFAULT_SYSTEM_PROMPT
from .settings import NUM, Settings, _get, read_settings

# Qwen2/Qwen3 attention and MLP projections (the usual LoRA targets for these models).
QWEN_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class LmSettings:
    pretrained: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_prompt_tokens: int = 256
    max_new_tokens: int = 320
    temperature: float = 1.0
    top_k: int = 0
    min_words: int = 3
    max_words: int = 220
    align_to: str = "original"
    malformed_reward: float = -1.0
    # optimisation
    learning_rate: float = 1e-5
    lr_warmup_steps: int = 0
    clip_range: float = 0.2
    kl_beta: float = 0.04
    batch_size: int = 4
    inner_epochs: int = 1
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_targets: list[str] = field(default_factory=lambda: list(QWEN_LORA_TARGETS))
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip_norm: float = 1.0


def read_lm_settings(job: dict) -> tuple[Settings, LmSettings]:
    """(generator + reward + sampling settings, LM settings). In stage 1 the generator is frozen and only rendered
    with ODE steps, so `grpo.sdeWindow` is not needed there (a neutral one is filled in for settings.py)."""
    idx = job["stage"] - 1
    stages = job["config"].get("stages")
    if not isinstance(stages, list) or idx >= len(stages) or not isinstance(stages[idx], dict):
        raise TrainerFailure("ConfigInvalid", f"stages[{idx}] does not exist")
    st = stages[idx]
    if job["stage"] == 1:
        st = copy.deepcopy(st)
        g = st.setdefault("grpo", {})
        if isinstance(g, dict):
            g.setdefault("sdeWindow", {"size": 1, "startMin": 0, "startMax": 0})
        job = {**job, "config": {**job["config"], "stages": stages[:idx] + [st] + stages[idx + 1:]}}
    s = read_settings(job)
    P: list[str] = []
    tp = f"stages[{idx}].trainer.lm"
    lm = (st.get("trainer") or {}).get("lm")
    if not isinstance(lm, dict):
        raise TrainerFailure("ConfigInvalid", f"{tp}: required for stage {job['stage']} (at least {{pretrained: <local model folder>}})")
    base = job["configBaseDir"]
    L = LmSettings()
    pre = _get(lm, "pretrained", tp, str, None, lambda v: len(v) > 0, P)
    if pre is None and not any(p.startswith(f"{tp}.pretrained") for p in P):
        P.append(f"{tp}.pretrained: required (a local causal-LM folder, e.g. Qwen3-4B-Instruct-2507)")
    L.pretrained = pre if pre is None or os.path.isabs(pre) else os.path.normpath(os.path.join(base, pre))
    L.system_prompt = _get(lm, "systemPrompt", tp, str, DEFAULT_SYSTEM_PROMPT, lambda v: len(v.strip()) > 0, P)
    L.max_prompt_tokens = _get(lm, "maxPromptTokens", tp, int, 256, lambda v: v >= 1, P)
    L.max_new_tokens = _get(lm, "maxNewTokens", tp, int, 320, lambda v: v >= 1, P)
    L.temperature = _get(lm, "temperature", tp, NUM, 1.0, lambda v: v > 0, P)
    L.top_k = _get(lm, "topK", tp, int, 0, lambda v: v >= 0, P)
    L.min_words = _get(lm, "minWords", tp, int, 3, lambda v: v >= 0, P)
    L.max_words = _get(lm, "maxWords", tp, int, 220, lambda v: v >= 1, P)
    L.align_to = _get(lm, "alignTo", tp, str, "original", lambda v: v in ("original", "rewrite"), P)
    L.malformed_reward = _get(lm, "malformedReward", tp, NUM, -1.0, None, P)
    if L.min_words > L.max_words:
        P.append(f"{tp}: minWords ({L.min_words}) exceeds maxWords ({L.max_words})")

    gkey = "grpo" if job["stage"] == 1 else "lmGrpo"
    gp = f"stages[{idx}].{gkey}"
    g = st.get(gkey)
    if not isinstance(g, dict):
        raise TrainerFailure("ConfigInvalid", f"{gp}: required for stage {job['stage']} (the prompt optimizer's learningRate, clipRange, klBeta, …)")
    L.learning_rate = _get(g, "learningRate", gp, NUM, None, lambda v: v > 0, P)
    if L.learning_rate is None and not any(p.startswith(f"{gp}.learningRate") for p in P):
        P.append(f"{gp}.learningRate: required")
    L.lr_warmup_steps = _get(g, "lrWarmupSteps", gp, int, 0, lambda v: v >= 0, P)
    L.clip_range = _get(g, "clipRange", gp, NUM, 0.2, lambda v: v > 0, P)
    L.kl_beta = _get(g, "klBeta", gp, NUM, 0.04, lambda v: v >= 0, P)
    L.batch_size = _get(g, "batchSize", gp, int, 4, lambda v: v >= 1, P)
    L.inner_epochs = _get(g, "innerEpochs", gp, int, 1, lambda v: v >= 1, P)
    lora = g.get("lora") or {}
    L.lora_rank = _get(lora, "rank", f"{gp}.lora", int, 16, lambda v: v >= 1, P)
    L.lora_alpha = _get(lora, "alpha", f"{gp}.lora", NUM, 2.0 * L.lora_rank, lambda v: v > 0, P)
    L.lora_targets = _get(lora, "targets", f"{gp}.lora", list, list(QWEN_LORA_TARGETS),
                          lambda v: len(v) > 0 and all(isinstance(x, str) for x in v), P)
    adam = g.get("adam") or {}
    L.adam_beta1 = _get(adam, "beta1", f"{gp}.adam", NUM, 0.9, lambda v: 0 <= v < 1, P)
    L.adam_beta2 = _get(adam, "beta2", f"{gp}.adam", NUM, 0.999, lambda v: 0 <= v < 1, P)
    L.adam_eps = _get(adam, "eps", f"{gp}.adam", NUM, 1e-8, lambda v: v > 0, P)
    L.weight_decay = _get(adam, "weightDecay", f"{gp}.adam", NUM, 0.0, lambda v: v >= 0, P)
    L.grad_clip_norm = _get(g, "gradClipNorm", gp, NUM, 1.0, lambda v: v > 0, P)
    if s.num_processes != 1:
        P.append(f"stages[{idx}].trainer.numProcesses: stage {job['stage']} (prompt optimizer) runs in one process for now; got {s.num_processes}")
    if P:
        raise TrainerFailure("ConfigInvalid", "; ".join(P))
    return s, L
