"""The Python GRPO math against the TypeScript implementations (fixtures written by
test/fixtures/torch/make-crosscheck.ts from domain/mini/sde.ts, domain/rewards/advantages.ts, domain/grpo/surrogate.ts)."""
import json
import os
import shutil
import subprocess

import pytest
import torch

from helpers import REPO
from realgen_torch.advantages import compute_advantages
from realgen_torch.sde import sde_coefficients, sigma_schedule, transition_log_prob
from realgen_torch.surrogate import surrogate_term

FIXTURE = os.path.join(REPO, "test", "fixtures", "torch", "crosscheck.json")
TOL = 1e-5

with open(FIXTURE) as f:
    FX = json.load(f)


@pytest.mark.parametrize("case", FX["sde"], ids=lambda c: f"steps{c['steps']}-shift{c['shift']}-i{c['index']}")
def test_sde_log_prob_matches_ts(case):
    sig = sigma_schedule(case["steps"], case["shift"])
    assert sig[case["index"]] == case["sigma"] and sig[case["index"] + 1] == case["sigmaNext"]
    c = sde_coefficients(case["sigma"], case["sigmaNext"], case["noiseLevel"], case["sigmaMax"])
    for k in ("dt", "st", "kx", "kv", "tau"):
        assert getattr(c, k) == pytest.approx(case["coefficients"][k], abs=1e-12, rel=1e-12)
    shape = (1, *case["shape"])
    x, v, xn, off = (torch.tensor(case[k], dtype=torch.float32).view(shape) for k in ("x", "v", "xNext", "offset"))
    lp, _ = transition_log_prob(x, xn, v, c)  # float32, as in training
    assert abs(float(lp[0]) - case["logProb"]) < TOL
    lp2, _ = transition_log_prob(x, xn, v + off, c)
    assert abs(float(lp2[0]) - case["logProbWithOffset"]) < TOL


@pytest.mark.parametrize("case", FX["advantages"], ids=lambda c: c["name"])
def test_advantages_match_ts(case):
    o = case["options"]
    r = compute_advantages([s["group"] for s in case["samples"]], [s["rewards"] for s in case["samples"]], case["weights"],
                           std=o.get("std", "group"), eps=o.get("eps", 1e-4), clip=o.get("clip", 5))
    want = case["result"]
    assert len(r.advantages) == len(want["advantages"])
    for a, b in zip(r.advantages, want["advantages"]):
        assert abs(a - b) < TOL
    assert sorted(r.z) == sorted(want["z"])
    for k in r.z:
        for a, b in zip(r.z[k], want["z"][k]):
            assert abs(a - b) < TOL
    for a, b in zip(r.weighted_raw, want["weightedRaw"]):
        assert abs(a - b) < TOL
    assert abs(r.zero_std_fraction - want["zeroStdFraction"]) < TOL
    assert [g["group"] for g in r.groups] == [g["group"] for g in want["groups"]]


def test_surrogate_matches_ts():
    worst = 0.0
    for t in FX["surrogate"]:
        got = surrogate_term(t["logProb"], t["oldLogProb"], t["advantage"], t["clipRange"])
        for k in ("loss", "coef", "ratio", "logRatio", "approxKl"):
            worst = max(worst, abs(got[k] - t[k]))
            assert abs(got[k] - t[k]) < TOL, (k, t, got)
        assert got["clipped"] == t["clipped"] and got["active"] == t["active"], (t, got)
    assert worst < TOL


@pytest.mark.skipif(shutil.which("node") is None or not os.path.isdir(os.path.join(REPO, "node_modules", "tsx")),
                    reason="node and node_modules (npm ci) are needed to regenerate the fixtures")
def test_fixture_is_current(tmp_path):
    """The committed fixture is what the current TypeScript code produces."""
    out = tmp_path / "crosscheck.json"
    subprocess.run(["node", "--import", "tsx", "test/fixtures/torch/make-crosscheck.ts", str(out)], cwd=REPO, check=True,
                   capture_output=True, timeout=120)
    assert out.read_bytes() == open(FIXTURE, "rb").read()
