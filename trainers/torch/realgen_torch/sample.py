"""`python -m realgen_torch.sample`: evaluation images of a torch-trained checkpoint (or of the base model).

    python -m realgen_torch.sample --job job.json --items items.jsonl --out DIR --seed N
        [--checkpoint DIR] [--stage N] [--steps S] [--batch B] [--threads T] [--device auto|cpu|cuda]

`job.json` is job-like: `{"config": <run config>, "configBaseDir": <dir>}` (the evaluation's config; the checkpoint's
stage is read from its `state.json`, or `--stage`). `items.jsonl` holds one `{"id", "prompt", "category"}` per line.

What it does, with the training code paths (families/, llm.py, rewrite.py):
  1. loads the stage's family (`mini`, or `flux` with `tiny`/`pretrained`) as the trainer does (`load_family`, same
     base-model seed), and applies the checkpoint's diffusion LoRA `lora/` (peft layout; EMA weights when EMA was on);
  2. with `lm-lora/` (stage 1 and 3 checkpoints), rewrites each prompt with the stage's LM + that adapter: greedy
     decoding (top-k 1), its draws from a generator seeded by (seed, item id) so ties resolve reproducibly. A
     malformed rewrite (rewrite.py: truncated, empty, too short/long, markup, unprintable) falls back to the original
     prompt and is reported in `prompts.json`;
  3. renders Euler ODE images from the TypeScript evaluation's initial noise (`ts_rng.eval_noise(seed, id)`, the
     same numbers as infra/mini/checkpoint-generator.ts), so an image depends only on (seed, item id) and the
     checkpoint, and rows pair with the base generator's. Steps: `--steps`, else the mini generator's own
     (`generator.json` steps and shift, as the TypeScript base generator), else the stage's `grpo.samplingSteps`
     and `sigmaShift` (flux);
  4. writes `<out>/<id>.png` and `<out>/prompts.json` (`{items: [{id, prompt, usedPrompt, rewrite, malformed}], …}`).

Stdout carries JSON events, one per line: `{"type": "progress", "done", "of"}` and at the end `{"type": "done", …}`,
or `{"type": "error", "kind", "message"}` (kinds of contracts/failures.ts: ConfigInvalid, CheckpointCorrupt, …) with
exit status 1. Nothing is downloaded (HF_HUB_OFFLINE).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from .protocol import TrainerFailure, emit  # noqa: E402

LORA_DIR, LM_LORA_DIR, LORA_FILE = "lora", "lm-lora", "adapter_model.safetensors"
CHECKPOINT_FORMAT = "realgen-torch-trainer/1"


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m realgen_torch.sample", description=__doc__.split("\n")[0])
    p.add_argument("--job", required=True, help='JSON file {"config": <run config>, "configBaseDir": <dir>}')
    p.add_argument("--items", required=True, help="JSONL, one {id, prompt, category} per line")
    p.add_argument("--out", required=True, help="output folder (<id>.png, prompts.json)")
    p.add_argument("--seed", required=True, type=int, help="base seed (the run config's seed)")
    p.add_argument("--checkpoint", default=None, help="a torch trainer checkpoint folder; absent = the base model")
    p.add_argument("--stage", type=int, default=None, help="stage whose config describes the models (default: state.json)")
    p.add_argument("--steps", type=int, default=None, help="ODE steps (default: the mini generator's, else grpo.samplingSteps)")
    p.add_argument("--batch", type=int, default=8, help="images per forward pass")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: trainer.threads)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    a = p.parse_args(argv)
    if a.steps is not None and a.steps < 1:
        raise TrainerFailure("ConfigInvalid", f"--steps: expected an integer ≥ 1, got {a.steps}")
    if a.batch < 1:
        raise TrainerFailure("ConfigInvalid", f"--batch: expected an integer ≥ 1, got {a.batch}")
    return a


def _read_json(path: str, what: str, kind: str = "ConfigInvalid"):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise TrainerFailure(kind, f"{what} {path}: {err}") from err


def read_items(path: str) -> list[dict]:
    items = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
    except OSError as err:
        raise TrainerFailure("ConfigInvalid", f"--items {path}: {err}") from err
    for n, line in enumerate(lines, 1):
        try:
            it = json.loads(line)
        except ValueError as err:
            raise TrainerFailure("ConfigInvalid", f"--items {path} line {n}: not JSON ({err})") from err
        if not (isinstance(it, dict) and isinstance(it.get("id"), str) and it["id"] and isinstance(it.get("prompt"), str)):
            raise TrainerFailure("ConfigInvalid", f"--items {path} line {n}: expected {{id: non-empty string, prompt: string, category}}")
        cat = it.get("category")
        items.append({"id": it["id"], "prompt": it["prompt"], "category": cat if isinstance(cat, str) else None})
    return items


class CheckpointInfo:
    """What a checkpoint folder holds: its state.json (stage, family, kind), and which adapters."""

    def __init__(self, d: str | None):
        self.dir = d
        self.state: dict = {}
        self.lora = self.lm_lora = False
        if d is None:
            return
        self.state = _read_json(os.path.join(d, "state.json"), "checkpoint state", "CheckpointCorrupt")
        if not isinstance(self.state, dict) or self.state.get("format") != CHECKPOINT_FORMAT:
            raise TrainerFailure("CheckpointCorrupt", f"{d}/state.json: not a torch trainer checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
        self.lora = os.path.isfile(os.path.join(d, LORA_DIR, LORA_FILE))
        self.lm_lora = os.path.isfile(os.path.join(d, LM_LORA_DIR, LORA_FILE))


def _first_torch_stage(config: dict) -> int | None:
    for i, st in enumerate(config.get("stages") or []):
        if isinstance(st, dict) and isinstance(st.get("trainer"), dict) and st["trainer"].get("backend") == "torch":
            return i + 1
    return None


def read_sample_settings(job: dict, stage: int | None, need_lm: bool):
    """(Settings, LmSettings or None) of the stage, read as the trainer reads them; without a torch stage, the mini
    family on the config's `models` (the base generator)."""
    from .settings import Settings

    if stage is None:
        cfg, base = job["config"], job["configBaseDir"]
        models = cfg.get("models") or {}
        rel = lambda p: p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))  # noqa: E731
        if not (isinstance(models.get("generator"), str) and isinstance(models.get("tokenizer"), str)):
            raise TrainerFailure("ConfigInvalid", "models.generator and models.tokenizer: required by the mini family")
        return Settings(family="mini", generator_json=rel(models["generator"]), tokenizer_json=rel(models["tokenizer"])), None
    full = {**job, "stage": stage}
    if need_lm or stage == 1:
        from .lm_settings import read_lm_settings

        s, L = read_lm_settings(full)
        return s, (L if need_lm else None)
    from .settings import read_settings

    return read_settings(full), None


def ode_steps(s, steps: int | None) -> tuple[int, float]:
    """(steps, σ shift): `--steps` with the family's shift, the mini generator's own schedule, or the stage's."""
    if s.family == "mini":
        meta = _read_json(s.generator_json, "models.generator")
        shift = float(meta.get("shift") or 1.0)
        return (steps if steps is not None else int(meta.get("steps", 28))), shift
    return (steps if steps is not None else s.sampling_steps), s.sigma_shift


def apply_lora(net, lora_dir: str):
    """Injects a peft adapter (folder with adapter_config.json + adapter_model.safetensors) into `net` in place; the
    family's `velocity` then runs through it. Returns the PeftModel."""
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(net, lora_dir, is_trainable=False)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise TrainerFailure("CheckpointCorrupt", f"{lora_dir}: cannot load the LoRA adapter: {err}") from err
    model.eval()
    return model


class Rewriter:
    """The stage's LM with the checkpoint's `lm-lora/`; one greedy rewrite per prompt."""

    def __init__(self, L, lm_lora_dir: str, device, dtype):
        from .llm import PromptLM

        self.L = L
        self.lm = PromptLM(L.pretrained, device, dtype, L.system_prompt, L.max_prompt_tokens)
        self.model = apply_lora(self.lm.net, lm_lora_dir)

    def rewrite(self, prompt: str, seed: int, item_id: str):
        import torch

        from .rewrite import check_rewrite
        from .train import _derive_seed

        gen = torch.Generator().manual_seed(_derive_seed(seed, "eval-rewrite", item_id))
        ids = self.lm.prompt_ids(prompt)
        comp = self.lm.sample(self.model, ids, 1, gen, self.L.max_new_tokens, 1.0, 1)
        tokens, ended = comp.tokens[0], comp.ended[0]
        return check_rewrite(self.lm.decode(tokens), ended=ended, tokens=len(tokens), min_words=self.L.min_words,
                             max_words=self.L.max_words)


def render(family, sigmas: list[float], prompts: list, noises, autocast):
    """Euler ODE from the given initial noises (as stage1.render): x ← x + v(x, σ)·(σ' − σ)."""
    import torch

    c = family.encode(prompts)
    x = noises
    with torch.no_grad(), autocast():
        for i in range(len(sigmas) - 1):
            sig, nxt = sigmas[i], sigmas[i + 1]
            v = family.velocity(x, torch.full((len(prompts),), sig), c).float()
            x = x + v * (nxt - sig)
    return family.decode(x)


def run(a: argparse.Namespace) -> dict:
    import contextlib

    import numpy as np
    import torch
    from PIL import Image

    from .data import Prompt
    from .families import load_family
    from .sde import sigma_schedule
    from .train import _derive_seed
    from .ts_rng import eval_noise

    job = _read_json(a.job, "--job")
    if not (isinstance(job, dict) and isinstance(job.get("config"), dict) and isinstance(job.get("configBaseDir"), str)):
        raise TrainerFailure("ConfigInvalid", f"--job {a.job}: expected {{config: <run config>, configBaseDir: <dir>}}")
    items = read_items(a.items)
    ck = CheckpointInfo(a.checkpoint)
    stage = a.stage if a.stage is not None else ck.state.get("stage") if a.checkpoint else _first_torch_stage(job["config"])
    if stage is not None and (not isinstance(stage, int) or isinstance(stage, bool) or stage < 1):
        raise TrainerFailure("CheckpointCorrupt", f"{a.checkpoint}/state.json: stage {stage!r} is not a stage number")
    s, L = read_sample_settings(job, stage, ck.lm_lora)
    if ck.state.get("family") not in (None, s.family):
        raise TrainerFailure("ConfigInvalid", f"stages[{stage - 1}].trainer.family is {s.family!r}, the checkpoint was trained "
                                              f"with family {ck.state.get('family')!r}")
    torch.set_num_threads(a.threads or s.threads)
    use_cuda = a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise TrainerFailure("ConfigInvalid", "--device cuda: no CUDA device is available")
    device = torch.device("cuda" if use_cuda else "cpu")
    bf16 = use_cuda and torch.cuda.is_bf16_supported() and s.precision in ("auto", "bf16")
    dtype = torch.bfloat16 if bf16 else torch.float32

    def autocast():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    steps, shift = ode_steps(s, a.steps)
    sigmas = sigma_schedule(steps, shift)
    rewriter = Rewriter(L, os.path.join(ck.dir, LM_LORA_DIR), device, dtype) if ck.lm_lora else None
    family = load_family(s, device, dtype, _derive_seed(job["config"].get("seed", a.seed), "base-model"))
    if ck.lora:
        apply_lora(family.net, os.path.join(ck.dir, LORA_DIR))
    family.net.eval()

    os.makedirs(a.out, exist_ok=True)
    records = []
    for it in items:
        rec = {"id": it["id"], "prompt": it["prompt"], "usedPrompt": it["prompt"], "rewrite": None, "malformed": None}
        if rewriter is not None:
            rw = rewriter.rewrite(it["prompt"], a.seed, it["id"])
            rec["rewrite"], rec["malformed"] = rw.text, rw.malformed
            if rw.malformed is None:
                rec["usedPrompt"] = rw.text
        records.append(rec)
    emit({"type": "progress", "done": 0, "of": len(items), "note": "prompts ready"})
    numel = int(np.prod(family.latent_shape))
    for b0 in range(0, len(items), a.batch):
        part = list(range(b0, min(len(items), b0 + a.batch)))
        noise = np.stack([eval_noise(a.seed, items[i]["id"], numel) for i in part]).reshape(len(part), *family.latent_shape)
        prompts = [Prompt(id=items[i]["id"], text=records[i]["usedPrompt"], category=items[i]["category"]) for i in part]
        images = render(family, sigmas, prompts, torch.from_numpy(noise).to(device), autocast)
        for i, img in zip(part, images):
            path = os.path.join(a.out, f"{items[i]['id']}.png")
            Image.fromarray(np.ascontiguousarray(img)).save(path + ".tmp", format="PNG")
            os.replace(path + ".tmp", path)
        emit({"type": "progress", "done": part[-1] + 1, "of": len(items)})
    summary = {"family": s.family, "stage": stage, "steps": steps, "shift": shift, "lora": ck.lora, "lmLora": ck.lm_lora,
               "malformed": sum(1 for r in records if r["malformed"] is not None), "items": records}
    with open(os.path.join(a.out, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        summary = run(_args(sys.argv[1:] if argv is None else argv))
        emit({"type": "done", "images": len(summary["items"]), "malformed": summary["malformed"]})
        return 0
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 (every failure becomes an error event)
        traceback.print_exc(file=sys.stderr)
        kind = err.kind if isinstance(err, TrainerFailure) else "Crash"
        emit({"type": "error", "kind": kind, "message": f"{type(err).__name__}: {err}"[:2000]})
        return 1


if __name__ == "__main__":
    sys.exit(main())
