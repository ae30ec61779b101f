"""A FLUX.1-dev-shaped folder (diffusers layout) with tiny random weights and tiny tokenizers, so the production
loading path (`trainer.pretrained`: from_pretrained of transformer, VAE, CLIP and T5 with their tokenizers) runs
without downloading anything."""
import json
import os

import torch


def make_tiny_flux_folder(root: str) -> str:
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, PreTrainedTokenizerFast, T5Config, T5EncoderModel

    from realgen_torch.families.flux import TINY_TRANSFORMER, TINY_VAE

    torch.manual_seed(0)
    FluxTransformer2DModel(**TINY_TRANSFORMER).save_pretrained(os.path.join(root, "transformer"))
    AutoencoderKL(**TINY_VAE).save_pretrained(os.path.join(root, "vae"))
    # CLIP: a character-level BPE vocabulary (no merges)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars])}
    d = os.path.join(root, "tokenizer_src")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(d, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    clip_tok = CLIPTokenizer(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"), model_max_length=16)
    clip_tok.save_pretrained(os.path.join(root, "tokenizer"))
    CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                 num_attention_heads=2, max_position_embeddings=16, projection_dim=32,
                                 bos_token_id=0, eos_token_id=1, pad_token_id=1)).save_pretrained(os.path.join(root, "text_encoder"))
    # T5: a word-level vocabulary
    words = ["<pad>", "</s>", "<unk>"] + "a an the of on in with red cat sofa old stone church bowl soup photo light".split()
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    t5_tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512)
    t5_tok.save_pretrained(os.path.join(root, "tokenizer_2"))
    T5EncoderModel(T5Config(vocab_size=len(words), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=2,
                            decoder_start_token_id=0)).save_pretrained(os.path.join(root, "text_encoder_2"))
    return root
