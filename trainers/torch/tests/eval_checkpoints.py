"""Torch-trainer checkpoint folders for evaluation tests (pytest test_sample.py and the TypeScript test
test/activities/evaluation/generate-torch-checkpoint.test.ts), in the layout checkpoint.py / stage1.py write:

  diffusion DIR SCALE   stage 2: lora/ (peft) on the mini UNet, LoRA B = SCALE·N(0, 1) (0: an identity adapter)
  lm DIR SCALE          stage 1: lm-lora/ (peft) on models/realgen-mini-lm, B = SCALE·N(0, 1)
  lm-config -           prints LM_CONFIG as JSON
  greedy DIR PROMPT…    prints JSON [rewrite…]: an independent greedy decode (transformers' generate) with DIR's
                        lm-lora/, the ChatML prompt and the system prompt of LM_CONFIG (the reference for the sampler)
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CONFIGS = os.path.join(REPO, "configs")
# The committed demo LM (trained from scratch here; stored in bf16, loaded in fp32 as the trainer and the sampler do on CPU).
LM_DIR = os.path.join(REPO, "models", "realgen-mini-lm")
# The stage-1 `trainer.lm` the tests evaluate with (models/realgen-mini-lm was trained with this system prompt).
LM_CONFIG = {"pretrained": "../models/realgen-mini-lm", "systemPrompt": "Rewrite the image prompt.", "maxNewTokens": 64,
             "minWords": 3, "maxWords": 60}


def write_state(ck, stage, kind):
    with open(os.path.join(ck, "state.json"), "w") as f:
        json.dump({"format": "realgen-torch-trainer/1", "kind": kind, "stage": stage, "family": "mini", "step": 1}, f)


def save_random_lora(net, targets, ck, scale):
    """Wraps `net` in a peft LoRA (r 4, α 8, Gaussian A, B = scale·N(0, 1), seeded) and writes it to `ck/lora/` in the
    peft layout the trainer's checkpoints use."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = get_peft_model(net, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0,
                                           init_lora_weights="gaussian"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn_like(p) * scale)
    os.makedirs(os.path.join(ck, "lora"))
    save_file({k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}, os.path.join(ck, "lora", "adapter_model.safetensors"))
    with open(os.path.join(ck, "lora", "adapter_config.json"), "w") as f:
        json.dump(model.peft_config["default"].to_dict(), f, default=lambda o: sorted(o) if isinstance(o, set) else str(o))


def diffusion_checkpoint(ck, scale):
    from realgen_torch.families.mini import MiniFamily
    from realgen_torch.settings import MINI_LORA_TARGETS, Settings

    models = os.path.join(REPO, "models", "realgen-mini")
    s = Settings(family="mini", generator_json=os.path.join(models, "generator.json"), tokenizer_json=os.path.join(models, "tokenizer.json"))
    fam = MiniFamily(s, torch.device("cpu"), torch.float32)
    save_random_lora(fam.net, MINI_LORA_TARGETS, ck, scale)
    write_state(ck, 2, "flow-grpo")
    return ck


def lm_checkpoint(ck, scale):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(LM_DIR, local_files_only=True, dtype=torch.float32),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn_like(p) * scale)
    model.save_pretrained(os.path.join(ck, "lm-lora"))
    write_state(ck, 1, "prompt-optimizer")
    model.eval()
    return ck, model


def greedy_reference(model, prompt):
    from transformers import AutoTokenizer

    from realgen_torch.rewrite import chatml

    tok = AutoTokenizer.from_pretrained(LM_DIR, local_files_only=True)
    ids = torch.tensor([tok.encode(chatml(LM_CONFIG["systemPrompt"], prompt), add_special_tokens=False)])
    end = tok.convert_tokens_to_ids("<|im_end|>")
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=LM_CONFIG["maxNewTokens"],
                         eos_token_id=[end, tok.eos_token_id], pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
    return " ".join(tok.decode([t for t in out if t not in (end, tok.eos_token_id)]).split())


def main(argv):
    torch.set_num_threads(1)
    cmd, d = argv[0], argv[1]
    if cmd == "diffusion":
        diffusion_checkpoint(d, float(argv[2]))
    elif cmd == "lm":
        lm_checkpoint(d, float(argv[2]))
    elif cmd == "lm-config":
        print(json.dumps(LM_CONFIG))
    elif cmd == "greedy":
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(LM_DIR, local_files_only=True, dtype=torch.float32)
        model = PeftModel.from_pretrained(base, os.path.join(d, "lm-lora"))
        model.eval()
        print(json.dumps([greedy_reference(model, p) for p in argv[2:]]))
    else:
        raise SystemExit(f"unknown command {cmd!r} (diffusion, lm, greedy)")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(REPO, "trainers", "torch"))
    main(sys.argv[1:])
