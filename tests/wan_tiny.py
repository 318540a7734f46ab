"""Tiny random stand-ins for the Wan2.1 encoders, saved in their library's folder layout.

`save_tiny_wan_vae` writes a diffusers ``AutoencoderKLWan`` folder (the ``vae`` weights key) and
`save_tiny_umt5` a transformers ``UMT5EncoderModel`` folder with its tokenizer (the ``umt5`` key).
Both are seeded, so the same call writes the same weights, and each folder is well under 1 MB.
"""

from __future__ import annotations

from pathlib import Path

import torch

# Ids as in the real T5/umT5 sentencepiece vocabularies: pad 0, eos 1, unk 2.
WORDS = ["<pad>", "</s>", "<unk>", "a", "an", "man", "woman", "person", "speaks", "talks", "waves", "his", "her",
         "hand", "to", "the", "camera", "another", "clip", "short", "audio"]


def save_word_tokenizer(path: Path, words: list[str] = WORDS) -> Path:
    """A whitespace word-level tokenizer that appends ``</s>``, saved with ``save_pretrained`` into `path`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(path)
    return Path(path)


def save_tiny_wan_vae(path: Path, z_dim: int = 4, seed: int = 0) -> Path:
    """A random ``AutoencoderKLWan`` (base_dim 8, 8x space, 4x time, latents_std 2) saved into `path`.

    Args:
        path: the folder to write (created if missing).
        z_dim: latent channels (the real Wan2.1 VAE has 16).
        seed: torch seed of the weights (the global RNG is left as it was).

    Returns:
        `path`.
    """
    from diffusers import AutoencoderKLWan

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderKLWan(base_dim=8, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True], latents_mean=[0.0] * z_dim,
                               latents_std=[2.0] * z_dim)
    vae.save_pretrained(path)
    return Path(path)


def save_tiny_umt5(path: Path, d_model: int = 16, seed: int = 0) -> Path:
    """A random 2-layer ``UMT5EncoderModel`` with the word-level tokenizer, saved into `path`.

    Args:
        path: the folder to write (created if missing).
        d_model: hidden width, the ``text_dim`` of the cached states (umT5-XXL has 4096).
        seed: torch seed of the weights (the global RNG is left as it was).

    Returns:
        `path`.
    """
    from transformers import UMT5Config, UMT5EncoderModel

    save_word_tokenizer(path)
    config = UMT5Config(vocab_size=len(WORDS), d_model=d_model, d_kv=8, d_ff=2 * d_model, num_layers=2,
                        num_heads=2, relative_attention_num_buckets=8, decoder_start_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UMT5EncoderModel(config)
    model.save_pretrained(path)
    return Path(path)


def tiny_wan_transformer_config(in_channels: int = 4, text_dim: int = 16, num_layers: int = 2) -> dict:
    """A ``WanTransformer3DModel`` config small enough for a CPU test (2 heads of 12: RoPE split 4/4/4)."""
    return dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
                out_channels=in_channels, text_dim=text_dim, freq_dim=16, ffn_dim=32, num_layers=num_layers,
                rope_max_seq_len=64)


def save_tiny_wan_transformer(path: Path, in_channels: int = 4, text_dim: int = 16, num_layers: int = 2,
                              seed: int = 0) -> Path:
    """A random Wan2.1 text-to-video transformer saved into `path` (the ``wan_t2v`` key's ``transformer/`` layout)."""
    from diffusers import WanTransformer3DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WanTransformer3DModel(**tiny_wan_transformer_config(in_channels, text_dim, num_layers))
    model.save_pretrained(path)
    return Path(path)
