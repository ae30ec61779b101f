"""Per-prompt group z-score advantages, the same rule as domain/rewards/advantages.ts (spec §2.2):
per reward key k, z = (r − μ_group) / (σ + eps) with the population std of the group (or of the whole batch with
std='global'); A = clip(Σ_k w_k z_k / Σ_k w_k, ±clip). Keys with weight 0 are ignored. Plain float64 Python, so it
matches the TypeScript numbers to the last bits."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class AdvantageResult:
    advantages: list[float]
    z: dict[str, list[float]]
    weighted_raw: list[float]
    groups: list[dict] = field(default_factory=list)
    zero_std_fraction: float = 0.0


def _moments(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    lo, hi = min(values), max(values)
    if lo == hi:
        return lo, 0.0  # a constant group has std exactly 0 (summing could be off by an ulp)
    s = 0.0
    for v in values:
        s += v
    mean = s / len(values)
    sq = 0.0
    for v in values:
        sq += (v - mean) * (v - mean)
    return mean, math.sqrt(sq / len(values))


def compute_advantages(groups: list[str], rewards: list[dict[str, float]], weights: dict[str, float],
                       std: str = "group", eps: float = 1e-4, clip: float = 5.0) -> AdvantageResult:
    if std not in ("group", "global"):
        raise ValueError(f"advantages: std must be 'group' or 'global', got {std!r}")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"advantages: eps must be a finite number ≥ 0, got {eps}")
    if not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"advantages: clip must be a finite number > 0, got {clip}")
    if len(groups) != len(rewards):
        raise ValueError("advantages: one group per sample")
    keys: list[str] = []
    wsum = 0.0
    for k in sorted(weights):
        w = weights[k]
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
            raise ValueError(f'advantages: weight for reward "{k}" must be a finite number ≥ 0, got {w}')
        if w == 0:
            continue
        keys.append(k)
        wsum += w
    if not keys:
        raise ValueError("advantages: at least one reward weight must be > 0")
    n = len(groups)
    index: dict[str, int] = {}
    members: list[list[int]] = []
    group_of = [0] * n
    for i, g in enumerate(groups):
        if g not in index:
            index[g] = len(members)
            members.append([])
        members[index[g]].append(i)
        group_of[i] = index[g]
        for k in keys:
            r = rewards[i].get(k)
            if not (isinstance(r, (int, float)) and math.isfinite(r)):
                raise ValueError(f'advantages: sample {i} (group "{g}"): reward "{k}" must be a finite number, got {r}')
    combined = [0.0] * n
    weighted_raw = [0.0] * n
    z: dict[str, list[float]] = {}
    zero_std_sum = 0.0
    for k in keys:
        w = float(weights[k])
        r = [float(rewards[i][k]) for i in range(n)]
        gm = [_moments([r[i] for i in idx]) for idx in members]
        global_std = _moments(r)[1] if std == "global" else 0.0
        zk = [0.0] * n
        for i in range(n):
            mean, gstd = gm[group_of[i]]
            dev = r[i] - mean
            sigma = global_std if std == "global" else gstd
            zi = 0.0 if dev == 0 else dev / (sigma + eps)
            zk[i] = zi
            combined[i] += w * zi
            weighted_raw[i] += w * r[i]
        z[k] = zk
        if members:
            zero_std_sum += sum(1 for m in gm if m[1] == 0) / len(members)
    adv = [min(clip, max(-clip, a / wsum)) for a in combined]
    weighted_raw = [x / wsum for x in weighted_raw]
    summaries = []
    for g, gi in index.items():
        idx = members[gi]
        summaries.append({"group": g, "size": len(idx), "meanWeightedRaw": sum(weighted_raw[i] for i in idx) / len(idx)})
    return AdvantageResult(adv, z, weighted_raw, summaries, zero_std_sum / len(keys))
