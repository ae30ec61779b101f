"""End-to-end runs of `python -m realgen_torch.train --job job.json` against the real reward service, started and
watched the way the supervisor does it (own process group, JSON events on stdout)."""
import json
import os
import signal
import time

import pytest
import torch
from safetensors.torch import load_file

import helpers as H

EVENT_FIELDS = {"progress": {"type", "step", "metrics"}, "heartbeat": {"type", "note"}, "checkpoint": {"type", "step", "dir"},
                "done": {"type", "step", "reason"}, "error": {"type", "kind", "message"}}
LORA = os.path.join("lora", "adapter_model.safetensors")


def check_protocol(events):
    """Every event fits contracts/trainer-protocol.ts's TrainerEventSchema; checkpoint steps increase."""
    steps = []
    for e in events:
        assert e["type"] in EVENT_FIELDS and set(e) <= EVENT_FIELDS[e["type"]], e
        if e["type"] == "progress":
            assert isinstance(e["step"], int) and all(isinstance(v, (int, float)) for v in e["metrics"].values())
        if e["type"] == "checkpoint":
            steps.append(e["step"])
            assert os.path.isabs(e["dir"])
    assert steps == sorted(set(steps))


def by_type(events, t):
    return [e for e in events if e["type"] == t]


def check_three_step_run(ev, ranks):
    """A fresh 3-step run: events, metrics, the checkpoint folder's content."""
    check_protocol(ev)
    assert [e["step"] for e in by_type(ev, "progress")] == [1, 2, 3]
    assert [e["step"] for e in by_type(ev, "checkpoint")] == [1, 2, 3]
    assert by_type(ev, "done") == [{"type": "done", "step": 3, "reason": "budget"}]
    m = by_type(ev, "progress")[-1]["metrics"]
    for k in ("reward", "reward_cnn-semantic", "reward_spectral", "reward_alignment", "adv_mean", "adv_std", "kl", "clipfrac",
              "ratio_mean", "ratio_min", "ratio_max", "policy_loss", "step_seconds", "samples_per_second", "grad_norm"):
        assert k in m, k
    assert m["kl"] > 0  # the LoRA has moved away from the reference
    first = by_type(ev, "progress")[0]["metrics"]
    # step 1, first inner epoch: the policy is still the sampling policy, so the recomputed log-probs equal the
    # recorded ones (up to batching in float32) and every ratio is 1
    assert abs(first["ratio_min"] - 1) < 1e-5 and abs(first["ratio_max"] - 1) < 1e-5 and first["clipfrac"] == 0
    ck = by_type(ev, "checkpoint")[-1]["dir"]
    files = [LORA, "lora/adapter_config.json", "optimizer.pt", "scheduler.pt", "state.json"] + [f"rng/rank-{r}.pt" for r in range(ranks)]
    for f in files:
        assert os.path.isfile(os.path.join(ck, f)), f
    st = json.load(open(os.path.join(ck, "state.json")))
    assert st["step"] == 3 and st["worldSize"] == ranks and [h["step"] for h in st["rewardHistory"]] == [1, 2, 3]
    assert st["cursor"] == 3  # one prompt per step
    lora = load_file(os.path.join(ck, LORA))
    assert any("lora_B" in k and v.abs().max() > 0 for k, v in lora.items())  # trained (B starts at 0)
    cfg = json.load(open(os.path.join(ck, "lora/adapter_config.json")))
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8


@pytest.mark.parametrize("ranks", [1, 2])
def test_mini_three_steps_then_sigkill_and_resume_is_byte_identical(tmp_path, reward_service, ranks):
    # EMA on (updated every optimizer step), so the EMA shadow's save/resume is covered too
    cfg = H.config(trainer={"numProcesses": ranks}, grpo={"ema": {"decay": 0.9, "everyOptimizerSteps": 1}})
    # A: uninterrupted, steps 0 → 3
    rc, ev_a, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=3, name="a.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    check_three_step_run(ev_a, ranks)  # with 2 ranks: the "mini family, 3 steps, 2 gloo ranks" run
    # B: the same run, SIGKILLed (whole group) while step 2 is in progress, after checkpoint 1 was reported
    p = H.start_trainer(H.write_job(str(tmp_path), cfg, stop=3, name="b.json"), reward_service.url)
    ev_b = H.read_events(p, until=lambda e: e["type"] == "checkpoint" and e["step"] == 1)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL and not by_type(ev_b, "done")
    H.wait_gone(H.processes_with(os.path.join(str(tmp_path), "b.json")))  # torchrun and the ranks die with the launcher
    resume = by_type(ev_b, "checkpoint")[-1]["dir"]
    # C: a new segment from B's checkpoint 1
    rc, ev_c, err = H.run_trainer(H.write_job(str(tmp_path), cfg, start=1, stop=3, resume=resume, name="c.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    check_protocol(ev_c)
    assert [e["step"] for e in by_type(ev_c, "progress")] == [2, 3]
    a = by_type(ev_a, "checkpoint")[-1]["dir"]
    c = by_type(ev_c, "checkpoint")[-1]["dir"]
    assert open(os.path.join(a, LORA), "rb").read() == open(os.path.join(c, LORA), "rb").read()
    assert open(os.path.join(a, "live", "adapter_model.safetensors"), "rb").read() == open(os.path.join(c, "live", "adapter_model.safetensors"), "rb").read()
    ema, live = load_file(os.path.join(c, LORA)), load_file(os.path.join(c, "live", "adapter_model.safetensors"))
    assert ema.keys() == live.keys() and any(not torch.equal(ema[k], live[k]) for k in ema)
    for f in ("lora/adapter_config.json", "state.json"):
        assert open(os.path.join(a, f), "rb").read() == open(os.path.join(c, f), "rb").read(), f
    oa, oc = torch.load(os.path.join(a, "optimizer.pt")), torch.load(os.path.join(c, "optimizer.pt"))
    for k in oa["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(oa["state"][k][name], oc["state"][k][name])
    assert [e["metrics"]["reward"] for e in by_type(ev_a, "progress")][1:] == [e["metrics"]["reward"] for e in by_type(ev_c, "progress")]


@pytest.mark.parametrize("ranks", [1, 2])
def test_sigterm_checkpoints_the_last_step_and_exits_zero(tmp_path, reward_service, ranks):
    cfg = H.config(trainer={"numProcesses": ranks})
    p = H.start_trainer(H.write_job(str(tmp_path), cfg, stop=3, save_every=100, name="t.json"), reward_service.url)
    ev = H.read_events(p, until=lambda e: e["type"] == "progress")
    os.killpg(p.pid, signal.SIGTERM)  # as the supervisor: the whole group, while step 2 is being sampled
    t = time.time()
    ev += H.read_events(p)
    rc = p.wait(timeout=60)
    assert rc == 0, p.stderr.read()[-3000:]
    assert time.time() - t < 30
    check_protocol(ev)
    done = by_type(ev, "done")
    assert len(done) == 1 and done[0]["reason"] == "signal"
    last = by_type(ev, "progress")[-1]["step"]
    cks = by_type(ev, "checkpoint")
    assert [c["step"] for c in cks] == [last] and done[0]["step"] == last < 3
    assert last == 1  # step 2 was being sampled: dropped, not finished
    assert os.path.isfile(os.path.join(cks[0]["dir"], LORA))
    if ranks == 1:
        # the dropped step left no trace: resuming gives the uninterrupted run's bytes
        rc, ev_r, err = H.run_trainer(H.write_job(str(tmp_path), cfg, start=last, stop=3, resume=cks[0]["dir"], name="r.json"), reward_service.url)
        assert rc == 0, err[-3000:]
        rc, ev_u, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=3, save_every=100, name="u.json"), reward_service.url)
        assert rc == 0, err[-3000:]
        a, b = by_type(ev_r, "checkpoint")[-1]["dir"], by_type(ev_u, "checkpoint")[-1]["dir"]
        assert open(os.path.join(a, LORA), "rb").read() == open(os.path.join(b, LORA), "rb").read()


def test_flux_tiny_two_steps_save_and_resume(tmp_path, reward_service):
    cfg = H.flux_config()
    rc, ev_a, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=2, name="a.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    check_protocol(ev_a)
    assert [e["step"] for e in by_type(ev_a, "checkpoint")] == [1, 2]
    first = by_type(ev_a, "checkpoint")[0]["dir"]
    lora = load_file(os.path.join(first, LORA))
    assert any(k.startswith("base_model.model.transformer_blocks.0.attn.to_q") for k in lora)
    assert any(k.startswith("base_model.model.single_transformer_blocks.0.attn.to_q") for k in lora)
    assert any(".ff_context.net.2." in k for k in lora)
    rc, ev_b, err = H.run_trainer(H.write_job(str(tmp_path), cfg, start=1, stop=2, resume=first, name="b.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    assert [e["step"] for e in by_type(ev_b, "progress")] == [2]
    a, b = by_type(ev_a, "checkpoint")[-1]["dir"], by_type(ev_b, "checkpoint")[-1]["dir"]
    assert open(os.path.join(a, LORA), "rb").read() == open(os.path.join(b, LORA), "rb").read()


def test_wall_clock_cap_ends_the_segment(tmp_path, reward_service):
    path = H.write_job(str(tmp_path), H.config(), stop=5)
    job = json.load(open(path))
    job["wallClockSeconds"] = 0.001
    json.dump(job, open(path, "w"))
    rc, ev, err = H.run_trainer(path, reward_service.url)
    assert rc == 0, err[-3000:]
    assert by_type(ev, "done") == [{"type": "done", "step": 0, "reason": "wallclock"}] and not by_type(ev, "checkpoint")


def test_flux_from_a_pretrained_folder(tmp_path, reward_service):
    """The production loading path: from_pretrained of transformer, VAE, CLIP + T5 and tokenizers (tiny weights)."""
    from tiny_flux_folder import make_tiny_flux_folder

    root = make_tiny_flux_folder(str(tmp_path / "FLUX.1-tiny"))
    cfg = H.config(trainer={"family": "flux", "pretrained": root, "resolution": 32, "maxSequenceLength": 8},
                   grpo={"sigmaShift": 3.0, "lora": {"rank": 4, "alpha": 8}})
    rc, ev, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=1), reward_service.url)
    assert rc == 0, err[-3000:]
    check_protocol(ev)
    assert [e["step"] for e in by_type(ev, "checkpoint")] == [1]
    assert by_type(ev, "done")[0]["reason"] == "budget"


def test_ranks_die_when_the_launcher_is_killed_while_they_start(tmp_path):
    # The supervisor's stall watchdog can SIGKILL the launcher's group while the ranks (own sessions, torchrun's
    # choice) still import torch: they used to be left forever (found by `npm run chaos`).
    job = H.write_job(str(tmp_path), H.config(trainer={"numProcesses": 2}), stop=3)
    p = H.start_trainer(job, "http://127.0.0.1:9")
    try:
        deadline = time.time() + 60
        while len(H.processes_with(job)) < 4:  # launcher, torchrun, 2 ranks
            assert time.time() < deadline, "the ranks never started"
            time.sleep(0.02)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    try:
        H.wait_gone(H.processes_with(job), timeout=20)
    finally:
        for pid in H.processes_with(job):  # a failed check leaves nothing behind either
            os.kill(pid, signal.SIGKILL)
