"""The evaluation sampler (`python -m realgen_torch.sample`): the base model equals the ONNX generator the TypeScript
evaluation runs (same initial noise, same Euler ODE), a checkpoint's diffusion LoRA changes the image, and a
checkpoint's `lm-lora/` rewrites the prompt (greedy), with a malformed rewrite falling back to the original."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import helpers as H
from eval_checkpoints import LM_CONFIG, diffusion_checkpoint, greedy_reference, lm_checkpoint, save_random_lora
from realgen_torch import sample
from realgen_torch.ts_rng import TsRng, eval_noise

GEN_JSON = os.path.join(H.REPO, "models", "realgen-mini", "generator.json")
STEPS = 6


def job_file(tmp, cfg):
    path = os.path.join(tmp, "job.json")
    with open(path, "w") as f:
        json.dump({"config": cfg, "configBaseDir": H.CONFIGS}, f)
    return path


def items_file(tmp, n=3):
    with open(os.path.join(H.realbench_dir(), "realbench.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()][1:1 + n]
    items = [{"id": f"{r['index']:05d}", "prompt": r["prompt"], "category": r.get("category")} for r in rows]
    path = os.path.join(tmp, "items.jsonl")
    with open(path, "w") as f:
        f.write("".join(json.dumps(it) + "\n" for it in items))
    return path, items


def stage1_config(**lm):
    cfg = copy.deepcopy(H.BASE_CONFIG)
    cfg["stages"][0] = {"stage": 1, "trainer": {"backend": "torch", "family": "mini", "lm": {**LM_CONFIG, **lm}},
        "grpo": {"groupSize": 2, "promptsPerEpoch": 1, "batchSize": 2, "learningRate": 0.01, "clipRange": 0.2, "samplingSteps": 4},
        "budget": {"maxSteps": 1, "segmentSteps": 1}, "saveEvery": 1, "evalEvery": 1}
    return cfg


def run_sampler(tmp, name, job, items, checkpoint=None, extra=()):
    out = os.path.join(tmp, name)
    argv = ["--job", job, "--items", items, "--out", out, "--seed", "42", "--steps", str(STEPS), "--device", "cpu", "--threads", "1",
            *extra]
    if checkpoint:
        argv += ["--checkpoint", checkpoint]
    assert sample.main(argv) == 0
    with open(os.path.join(out, "prompts.json")) as f:
        return out, json.load(f)


def pixels(out, item_id):
    return np.asarray(Image.open(os.path.join(out, f"{item_id}.png")).convert("RGB")).astype(np.int16)


def onnx_images(items, steps):
    """The TypeScript evaluation's base generator, reproduced with onnxruntime: generator.onnx, the tokenizer, the
    per-id initial noise, Euler ODE on generator.json's schedule, uint8 as domain/mini/flow-sampler.ts toRgb."""
    import onnxruntime as ort

    from realgen_torch.data import MiniTokenizer
    from realgen_torch.sde import sigma_schedule

    meta = json.load(open(GEN_JSON))
    sess = ort.InferenceSession(os.path.join(os.path.dirname(GEN_JSON), meta["onnx"]), providers=["CPUExecutionProvider"])
    tok = MiniTokenizer(os.path.join(H.REPO, "models", "realgen-mini", "tokenizer.json"))
    tokens = np.array([tok.encode(it["prompt"], it["category"]) for it in items], dtype=np.int64)
    x = np.stack([eval_noise(42, it["id"], 3 * 64 * 64) for it in items]).reshape(len(items), 3, 64, 64)
    sig = sigma_schedule(steps, float(meta.get("shift") or 1.0))
    for i in range(steps):
        v = sess.run(None, {"x": x, "sigma": np.full((len(items),), sig[i], np.float32), "tokens": tokens})[0]
        x = (x + v * np.float32(sig[i + 1] - sig[i])).astype(np.float32)
    return np.round((np.clip(x, -1, 1) + 1) / 2 * 255).astype(np.int16).transpose(0, 2, 3, 1)


def test_noise_is_the_typescript_rng():
    # Values printed by lib/random.ts: Rng.fromSeed(42, 'realbench-eval', '00001') and (7, …, '00123').
    assert TsRng.from_seed(42, "realbench-eval", "00001").s == [1288007556, 2287599123, 1439203455, 1996687584]
    assert eval_noise(42, "00001", 5).tolist() == pytest.approx(
        [0.3173254132270813, 0.29838827252388, 3.1195180416107178, 0.433743417263031, 0.15308696031570435], abs=0)
    b = eval_noise(7, "00123", 12289)
    expected = [0.4213007986545563, -0.5765883922576904, -0.5362781286239624, 1.2548627853393555]
    assert [b[0], b[1], b[12287], b[12288]] == pytest.approx(expected, abs=0)


def test_base_model_equals_the_onnx_generator(tmp_path):
    job = job_file(str(tmp_path), H.config())
    items_path, items = items_file(str(tmp_path))
    out, summary = run_sampler(str(tmp_path), "base", job, items_path)
    assert summary["lora"] is False and summary["lmLora"] is False and summary["steps"] == STEPS
    expected = onnx_images(items, STEPS)
    for i, it in enumerate(items):
        got = pixels(out, it["id"])
        assert np.abs(got - expected[i]).max() <= 1, f"{it['id']}: torch sampler vs ONNX"
        assert summary["items"][i]["usedPrompt"] == it["prompt"]


def test_diffusion_lora_changes_the_image_and_a_zero_lora_does_not(tmp_path):
    job = job_file(str(tmp_path), H.config())
    items_path, items = items_file(str(tmp_path), 2)
    base, _ = run_sampler(str(tmp_path), "base", job, items_path)
    zero, _ = run_sampler(str(tmp_path), "zero", job, items_path, diffusion_checkpoint(str(tmp_path / "ck-zero"), 0.0))
    lora, summary = run_sampler(str(tmp_path), "lora", job, items_path, diffusion_checkpoint(str(tmp_path / "ck-lora"), 0.05))
    assert summary["lora"] is True and summary["stage"] == 2
    for it in items:
        assert np.abs(pixels(zero, it["id"]) - pixels(base, it["id"])).max() <= 1
        assert np.abs(pixels(lora, it["id"]) - pixels(base, it["id"])).mean() > 2.0, f"{it['id']}: the LoRA changed nothing"


def test_lm_lora_rewrites_greedily_and_a_malformed_rewrite_falls_back(tmp_path):
    items_path, items = items_file(str(tmp_path), 2)
    ck, model = lm_checkpoint(str(tmp_path / "ck"), 0.02)
    model.eval()
    base, _ = run_sampler(str(tmp_path), "base", job_file(str(tmp_path), H.config()), items_path)
    out, summary = run_sampler(str(tmp_path), "lm", job_file(str(tmp_path), stage1_config()), items_path, ck)
    assert summary["lmLora"] is True and summary["lora"] is False and summary["malformed"] == 0
    for i, it in enumerate(items):
        rec = summary["items"][i]
        assert rec["usedPrompt"] == greedy_reference(model, it["prompt"]) == rec["rewrite"]
        assert rec["usedPrompt"] != it["prompt"]
        assert np.abs(pixels(out, it["id"]) - pixels(base, it["id"])).max() > 0, "the rewrite is what was rendered"
    # two new tokens cannot end a rewrite: truncated, so the original prompt is rendered and the failure reported
    os.remove(os.path.join(str(tmp_path), "job.json"))
    out2, summary2 = run_sampler(str(tmp_path), "lm-trunc", job_file(str(tmp_path), stage1_config(maxNewTokens=2)), items_path, ck)
    assert summary2["malformed"] == 2
    for i, it in enumerate(items):
        assert summary2["items"][i]["malformed"] == "truncated" and summary2["items"][i]["usedPrompt"] == it["prompt"]
        assert np.array_equal(pixels(out2, it["id"]), pixels(base, it["id"]))


def test_cli_reports_a_bad_checkpoint_as_an_error_event(tmp_path):
    items_path, _ = items_file(str(tmp_path), 1)
    ck = tmp_path / "not-a-checkpoint"
    ck.mkdir()
    (ck / "state.json").write_text('{"format": "something-else"}')
    env = dict(os.environ, PYTHONPATH=os.path.join(H.REPO, "trainers", "torch"))
    p = subprocess.run([sys.executable, "-m", "realgen_torch.sample", "--job", job_file(str(tmp_path), H.config()), "--items", items_path,
                        "--out", str(tmp_path / "out"), "--seed", "1", "--checkpoint", str(ck)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 1
    ev = json.loads(p.stdout.strip().splitlines()[-1])
    assert ev["type"] == "error" and ev["kind"] == "CheckpointCorrupt" and "not a torch trainer checkpoint" in ev["message"]


def flux_checkpoint(ck, cfg, scale):
    """A stage-2 `flux` (tiny) checkpoint: peft LoRA on the paper's FLUX targets of the same seeded tiny model."""
    from realgen_torch.families import load_family
    from realgen_torch.settings import read_settings
    from realgen_torch.train import _derive_seed

    s = read_settings({"config": cfg, "configBaseDir": H.CONFIGS, "stage": 2})
    fam = load_family(s, torch.device("cpu"), torch.float32, _derive_seed(cfg["seed"], "base-model"))
    save_random_lora(fam.net, s.lora_targets, ck, scale)
    with open(os.path.join(ck, "state.json"), "w") as f:
        json.dump({"format": "realgen-torch-trainer/1", "stage": 2, "family": "flux", "step": 1}, f)
    return ck


@pytest.mark.parametrize("source", ["tiny", "pretrained"])
def test_flux_lora_changes_the_image_and_the_noise_is_per_id(tmp_path, source):
    """`tiny`: the seeded random model; `pretrained`: the production loading path (from_pretrained of transformer,
    VAE, CLIP + T5 and tokenizers) on a FLUX-shaped folder with tiny weights."""
    cfg = H.flux_config()
    if source == "pretrained":
        from tiny_flux_folder import make_tiny_flux_folder

        tr = cfg["stages"][1]["trainer"]
        tr.pop("tiny")
        tr["pretrained"] = make_tiny_flux_folder(str(tmp_path / "FLUX.1-tiny"))
    job = job_file(str(tmp_path), cfg)
    items_path, items = items_file(str(tmp_path), 2)
    base, summary = run_sampler(str(tmp_path), "base", job, items_path, extra=("--stage", "2"))
    assert summary["family"] == "flux" and summary["lora"] is False
    # one item alone (another batch) gives the same image: the noise depends on (seed, id) only
    alone_items = os.path.join(str(tmp_path), "alone.jsonl")
    with open(alone_items, "w") as f:
        f.write(json.dumps(items[1]) + "\n")
    alone, _ = run_sampler(str(tmp_path), "alone", job, alone_items, extra=("--stage", "2"))
    assert np.abs(pixels(alone, items[1]["id"]) - pixels(base, items[1]["id"])).max() <= 1
    lora, summary = run_sampler(str(tmp_path), "lora", job, items_path, flux_checkpoint(str(tmp_path / "ck"), cfg, 0.5))
    assert summary["lora"] is True and summary["family"] == "flux"
    assert pixels(lora, items[0]["id"]).shape == (32, 32, 3)
    for it in items:
        assert np.abs(pixels(lora, it["id"]) - pixels(base, it["id"])).max() > 0, f"{it['id']}: the LoRA changed nothing"
