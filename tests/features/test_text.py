"""Text embeddings: MiniLM default (token states + mask), a tiny T5 through the transformers backend and a
tiny umT5 through the umt5 backend."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from omnihuman_pipeline.features.text import build_text_encoder
from tests.wan_tiny import WORDS, save_tiny_umt5, save_word_tokenizer


def test_minilm_token_states_and_mask():
    """A caption -> [max_length, 384] token states, mask on its tokens, zeros on padding."""
    enc = build_text_encoder("minilm", max_length=16)
    states, mask = enc.encode("a woman talks to the camera")
    assert states.shape == (16, 384) and mask.dtype == bool and 3 < mask.sum() < 16
    assert not states[~mask].any() and np.abs(states[mask]).sum() > 0


def test_empty_caption_and_truncation():
    """"" keeps only the special tokens; a long caption is truncated to max_length."""
    enc = build_text_encoder("minilm", max_length=8)
    _, empty = enc.encode("")
    _, long = enc.encode("word " * 50)
    assert empty.sum() == 2 and long.sum() == 8


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A random T5 encoder with a word-level tokenizer built locally, saved in the transformers layout."""
    from transformers import T5Config, T5EncoderModel

    path = save_word_tokenizer(tmp_path_factory.mktemp("t5"))
    config = T5Config(vocab_size=len(WORDS), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                      decoder_start_token_id=0)
    T5EncoderModel(config).save_pretrained(path)
    return path


def test_t5_through_the_transformers_backend(tiny_t5):
    """A T5 folder loads as T5EncoderModel: [max_length, d_model] states, mask = words + </s>."""
    enc = build_text_encoder("transformers", max_length=6, weights=str(tiny_t5))
    states, mask = enc.encode("a man waves")
    assert enc.model_type == "t5" and type(enc.model).__name__ == "T5EncoderModel"
    assert states.shape == (6, 16) and mask.tolist() == [True] * 4 + [False] * 2


@pytest.fixture(scope="module")
def tiny_umt5(tmp_path_factory):
    """A random 2-layer umT5 encoder (d_model 16) with the word-level tokenizer."""
    return save_tiny_umt5(tmp_path_factory.mktemp("umt5"))


def test_umt5_backend_states_and_mask(tiny_umt5):
    """A umT5 folder loads as UMT5EncoderModel: [max_length, 16] float32 states, zeros on padding, name umt5."""
    enc = build_text_encoder("umt5", max_length=8, weights=str(tiny_umt5))
    states, mask = enc.encode("a woman talks to the camera")
    assert type(enc.model).__name__ == "UMT5EncoderModel" and enc.name == "umt5" and enc.dim == 16
    assert states.shape == (8, 16) and states.dtype == np.float32 and mask.dtype == bool
    assert mask.tolist() == [True] * 7 + [False]
    assert not states[~mask].any() and np.abs(states[mask]).sum() > 0
    _, empty = enc.encode("")
    assert empty.tolist() == [True] + [False] * 7


def test_umt5_backend_reads_a_wan_checkpoint_root(tiny_umt5, tmp_path):
    """A Wan2.1 diffusers root (text_encoder/ + tokenizer/) gives the same states as the flat folder."""
    shutil.copytree(tiny_umt5, tmp_path / "text_encoder", ignore=shutil.ignore_patterns("tokenizer*"))
    shutil.copytree(tiny_umt5, tmp_path / "tokenizer", ignore=shutil.ignore_patterns("*.safetensors", "config.json"))
    flat = build_text_encoder("umt5", max_length=8, weights=str(tiny_umt5)).encode("a man waves")
    root = build_text_encoder("umt5", max_length=8, weights=str(tmp_path)).encode("a man waves")
    assert np.array_equal(flat[0], root[0]) and np.array_equal(flat[1], root[1])


def test_umt5_backend_refuses_another_model_type(tiny_t5, monkeypatch):
    """A T5 folder given as the umt5 weights is refused, naming the folder and the model type found."""
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_UMT5", str(tiny_t5))
    with pytest.raises(ValueError, match=f"umt5.*{re.escape(str(tiny_t5))}.*model_type 't5'"):
        build_text_encoder("umt5", max_length=8)
