"""Stage 1 (prompt optimizer) and stage 3 (joint) end to end: a tiny Qwen3 built from a config (random init, a short
supervised pass so that some rewrites end) with a tokenizer trained here on the RealBench training prompts, the mini
generator, and the real reward service; the trainer runs as the supervisor starts it."""
import copy
import json
import os
import signal

import pytest
import torch

import helpers as H
from realgen_torch.lm_settings import read_lm_settings
from realgen_torch.protocol import PROTOCOL, TrainerFailure
from realgen_torch.rewrite import check_rewrite
from test_train import by_type, check_protocol

LM_LORA = os.path.join("lm-lora", "adapter_model.safetensors")
SYSTEM = "Rewrite the image prompt."
DESCRIPTORS = os.path.join(H.REPO, "models", "realgen-mini", "descriptors.json")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from realgen_torch.lm_folder import make_tiny_lm_folder

    return make_tiny_lm_folder(str(tmp_path_factory.mktemp("lm") / "tiny-qwen3"), H.realbench_dir(), vocab_size=1024, system=SYSTEM,
                               descriptors_json=DESCRIPTORS, sft_steps=100, sft_batch=8, sft_lr=1e-2)


def lm_trainer(lm_dir, **over):
    lm = {"pretrained": lm_dir, "systemPrompt": SYSTEM, "maxNewTokens": 64, "minWords": 1, "maxWords": 60, **over}
    return {"backend": "torch", "family": "mini", "threads": 1, "lm": lm}


def stage1_config(lm_dir, lm=None, grpo=None):
    c = copy.deepcopy(H.BASE_CONFIG)
    c["stages"][0] = {"stage": 1, "trainer": lm_trainer(lm_dir, **(lm or {})),
                      "grpo": {"groupSize": 4, "promptsPerEpoch": 2, "batchSize": 4, "learningRate": 0.002, "klBeta": 0.04, "clipRange": 0.2,
                               "samplingSteps": 4, "lora": {"rank": 4, "alpha": 8}, **(grpo or {})},
                      "budget": {"maxSteps": 3, "segmentSteps": 3, "segmentMinutes": 30}, "saveEvery": 1, "evalEvery": 1}
    return c


def stage3_config(lm_dir):
    c = stage1_config(lm_dir)
    st2 = copy.deepcopy(c["stages"][1])
    st2["grpo"]["groupSize"] = 4
    c["stages"].append({"stage": 3, "trainer": lm_trainer(lm_dir), "grpo": copy.deepcopy(st2["grpo"]),
                        "lmGrpo": {"learningRate": 0.001, "klBeta": 0.02, "clipRange": 0.1, "batchSize": 4, "lora": {"rank": 4, "alpha": 8}},
                        "budget": {"maxSteps": 2, "segmentSteps": 2, "segmentMinutes": 30}, "saveEvery": 1, "evalEvery": 1})
    c["stages"][2]["grpo"]["promptsPerEpoch"] = 2
    return c


def same_bytes(a, b, rel):
    return open(os.path.join(a, rel), "rb").read() == open(os.path.join(b, rel), "rb").read()


def test_rewrite_checks_name_the_reason():
    ok = dict(ended=True, tokens=5, min_words=2, max_words=5)
    assert check_rewrite("  a  red\ncat ", **ok).malformed is None and check_rewrite("a red cat", **ok).text == "a red cat"
    assert check_rewrite("a red cat", **{**ok, "ended": False}).malformed == "truncated"
    assert check_rewrite("   ", **ok).malformed == "empty"
    assert check_rewrite("cat", **ok).malformed == "too-short"
    assert check_rewrite("a b c d e f", **ok).malformed == "too-long"
    assert check_rewrite("<think>a red cat</think>", **ok).malformed == "markup"
    assert check_rewrite("a red <|im_start|> cat", **ok).malformed == "markup"
    assert check_rewrite("a red \x07 cat", **ok).malformed == "unprintable"
    assert check_rewrite("a red \ufffd cat", **ok).malformed == "unprintable"


def test_lm_settings_errors_name_the_field(tiny_lm):
    job = {"protocol": PROTOCOL, "stage": 1, "stageKey": "stage-1", "config": stage1_config(tiny_lm), "configBaseDir": H.CONFIGS}
    s, L = read_lm_settings(job)
    assert L.pretrained == tiny_lm and L.max_new_tokens == 64 and L.lora_rank == 4 and s.group_size == 4 and L.align_to == "original"
    bad = copy.deepcopy(job)
    del bad["config"]["stages"][0]["trainer"]["lm"]
    with pytest.raises(TrainerFailure, match=r"stages\[0\]\.trainer\.lm: required"):
        read_lm_settings(bad)
    bad = copy.deepcopy(job)
    bad["config"]["stages"][0]["trainer"]["lm"].update(temperature=0, alignTo="both")
    with pytest.raises(TrainerFailure, match=r"trainer\.lm\.temperature: invalid value 0.*alignTo: invalid value 'both'"):
        read_lm_settings(bad)
    job3 = {**job, "stage": 3, "stageKey": "stage-3", "config": stage3_config(tiny_lm)}
    del job3["config"]["stages"][2]["lmGrpo"]
    with pytest.raises(TrainerFailure, match=r"stages\[2\]\.lmGrpo: required"):
        read_lm_settings(job3)


def test_stage1_three_steps_then_sigkill_and_resume_is_byte_identical(tmp_path, reward_service, tiny_lm):
    cfg = stage1_config(tiny_lm)
    rc, ev_a, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=3, stage=1, name="a.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    check_protocol(ev_a)
    assert [e["step"] for e in by_type(ev_a, "progress")] == [1, 2, 3]
    assert [e["step"] for e in by_type(ev_a, "checkpoint")] == [1, 2, 3]
    assert by_type(ev_a, "done") == [{"type": "done", "step": 3, "reason": "budget"}]
    for e in by_type(ev_a, "progress"):
        m = e["metrics"]
        for k in ("reward", "reward_cnn-semantic", "reward_spectral", "reward_alignment", "reward_wellformed", "rewrite_words",
                  "rewrite_tokens", "malformed_frac", "kl", "policy_loss", "clipfrac", "grad_norm", "adv_std"):
            assert k in m, k
        assert 0 <= m["malformed_frac"] <= 1 and m["rewrite_tokens"] > 0
    first = by_type(ev_a, "progress")[0]["metrics"]
    assert first["clipfrac"] == 0 and first["kl"] == 0  # step 1: policy = sampling policy = reference (LoRA B = 0)
    assert by_type(ev_a, "progress")[-1]["metrics"]["kl"] > 0  # the LoRA has moved
    ck = by_type(ev_a, "checkpoint")[-1]["dir"]
    for f in (LM_LORA, "lm-lora/adapter_config.json", "lm-optimizer.pt", "lm-scheduler.pt", "rng/rank-0.pt", "state.json"):
        assert os.path.isfile(os.path.join(ck, f)), f
    assert not os.path.exists(os.path.join(ck, "lora"))  # the LM adapter is never mistaken for a generator's
    st = json.load(open(os.path.join(ck, "state.json")))
    assert st["kind"] == "prompt-optimizer" and st["step"] == 3 and st["cursor"] == 6 and len(st["lastRewrites"]) == 8
    assert [h["step"] for h in st["rewardHistory"]] == [1, 2, 3]
    rws = st["lastRewrites"]
    assert any(r["malformed"] is None for r in rws)  # rendered and scored
    assert all(r["reward"] == -1.0 for r in rws if r["malformed"])  # the default malformedReward on every key
    # B: the same run, SIGKILLed (whole group) after checkpoint 1 was reported; C resumes from it
    p = H.start_trainer(H.write_job(str(tmp_path), cfg, stop=3, stage=1, name="b.json"), reward_service.url)
    ev_b = H.read_events(p, until=lambda e: e["type"] == "checkpoint" and e["step"] == 1)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL and not by_type(ev_b, "done")
    resume = by_type(ev_b, "checkpoint")[-1]["dir"]
    rc, ev_c, err = H.run_trainer(H.write_job(str(tmp_path), cfg, start=1, stop=3, stage=1, resume=resume, name="c.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    assert [e["step"] for e in by_type(ev_c, "progress")] == [2, 3]
    c = by_type(ev_c, "checkpoint")[-1]["dir"]
    for f in (LM_LORA, "lm-lora/adapter_config.json", "state.json"):
        assert same_bytes(ck, c, f), f
    oa, oc = torch.load(os.path.join(ck, "lm-optimizer.pt")), torch.load(os.path.join(c, "lm-optimizer.pt"))
    for k in oa["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(oa["state"][k][name], oc["state"][k][name])
    assert [e["metrics"]["reward"] for e in by_type(ev_a, "progress")][1:] == [e["metrics"]["reward"] for e in by_type(ev_c, "progress")]


def test_malformed_rewrites_are_penalised_not_fatal(tmp_path, reward_service, tiny_lm):
    # 3 new tokens never reach the end-of-turn token: every rewrite is malformed ("truncated"); nothing is rendered,
    # every sample gets malformedReward, the step completes and is checkpointed
    cfg = stage1_config(tiny_lm, lm={"maxNewTokens": 3, "malformedReward": -3})
    rc, ev, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=1, stage=1), reward_service.url)
    assert rc == 0, err[-3000:]
    check_protocol(ev)
    m = by_type(ev, "progress")[0]["metrics"]
    assert m["malformed_frac"] == 1 and m["malformed_truncated"] == 1 and m["reward"] == -3 and m["reward_alignment"] == -3
    assert m["adv_std"] == 0 and by_type(ev, "done")[0]["reason"] == "budget"
    st = json.load(open(os.path.join(by_type(ev, "checkpoint")[0]["dir"], "state.json")))
    assert {r["malformed"] for r in st["lastRewrites"]} == {"truncated"}


def test_stage1_sigterm_checkpoints_and_exits_zero(tmp_path, reward_service, tiny_lm):
    p = H.start_trainer(H.write_job(str(tmp_path), stage1_config(tiny_lm), stop=3, save_every=100, stage=1), reward_service.url)
    ev = H.read_events(p, until=lambda e: e["type"] == "progress")
    os.killpg(p.pid, signal.SIGTERM)
    ev += H.read_events(p)
    assert p.wait(timeout=60) == 0, p.stderr.read()[-3000:]
    check_protocol(ev)
    done = by_type(ev, "done")
    assert len(done) == 1 and done[0]["reason"] == "signal"
    last = by_type(ev, "progress")[-1]["step"]
    assert [c["step"] for c in by_type(ev, "checkpoint")] == [last] and last < 3


def test_stage3_joint_two_steps_from_stage1_and_stage2_checkpoints(tmp_path, reward_service, tiny_lm):
    cfg = stage3_config(tiny_lm)
    # the earlier stages' final checkpoints, made by their trainers (1 step each)
    rc, ev1, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=1, stage=1, name="s1.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    rc, ev2, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=1, stage=2, name="s2.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    init = {"stage-1": by_type(ev1, "checkpoint")[-1]["dir"], "stage-2": by_type(ev2, "checkpoint")[-1]["dir"]}
    rc, ev_a, err = H.run_trainer(H.write_job(str(tmp_path), cfg, stop=2, stage=3, init_dirs=init, name="a.json"), reward_service.url)
    assert rc == 0, err[-3000:]
    assert f"LM LoRA initialised from {init['stage-1']}" in err and f"LoRA initialised from {init['stage-2']}" in err
    check_protocol(ev_a)
    assert [e["step"] for e in by_type(ev_a, "checkpoint")] == [1, 2]
    m = by_type(ev_a, "progress")[-1]["metrics"]
    for k in ("reward", "reward_alignment", "rewrite_words", "malformed_frac", "policy_loss", "kl", "ratio_mean", "grad_norm",
              "lm_policy_loss", "lm_kl", "lm_grad_norm", "lm_lr"):
        assert k in m, k
    ck = by_type(ev_a, "checkpoint")[-1]["dir"]
    for f in ("lora/adapter_model.safetensors", "optimizer.pt", "scheduler.pt", LM_LORA, "lm-optimizer.pt", "lm-scheduler.pt", "state.json"):
        assert os.path.isfile(os.path.join(ck, f)), f
    st = json.load(open(os.path.join(ck, "state.json")))
    assert st["kind"] == "joint" and st["step"] == 2
    # both LoRAs moved away from their initial (stage-1 / stage-2) weights
    assert not same_bytes(ck, init["stage-1"], LM_LORA) and not same_bytes(ck, init["stage-2"], "lora/adapter_model.safetensors")
    # resume from checkpoint 1 ends byte-identical (both LoRAs, both optimizers' moments)
    first = by_type(ev_a, "checkpoint")[0]["dir"]
    rc, ev_c, err = H.run_trainer(H.write_job(str(tmp_path), cfg, start=1, stop=2, stage=3, resume=first, init_dirs=init, name="c.json"),
                                  reward_service.url)
    assert rc == 0, err[-3000:]
    c = by_type(ev_c, "checkpoint")[-1]["dir"]
    for f in ("lora/adapter_model.safetensors", LM_LORA, "state.json"):
        assert same_bytes(ck, c, f), f


def test_chat_template_path_equals_the_chatml_layout(tiny_lm, tmp_path):
    """Production tokenizers (Qwen3-4B-Instruct) carry a chat template: the prompt comes from apply_chat_template, and
    for a ChatML template it is the same tokens as the built-in layout used when a tokenizer has none."""
    import shutil

    from realgen_torch.llm import PromptLM

    plain = PromptLM(tiny_lm, torch.device("cpu"), torch.float32, SYSTEM, 64)
    folder = str(tmp_path / "with-template")
    shutil.copytree(tiny_lm, folder)
    cfg_path = os.path.join(folder, "tokenizer_config.json")
    cfg = json.load(open(cfg_path))
    cfg["chat_template"] = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    json.dump(cfg, open(cfg_path, "w"))
    templated = PromptLM(folder, torch.device("cpu"), torch.float32, SYSTEM, 64)
    assert templated.tokenizer.chat_template
    assert templated.prompt_ids("a red cat on a sofa") == plain.prompt_ids("a red cat on a sofa")
    assert plain.eos_ids == [plain.tokenizer.convert_tokens_to_ids("<|im_end|>")]
