"""Text embeddings: MiniLM default (token states + mask) and a tiny T5 through the transformers backend."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.features.text import build_text_encoder


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
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    words = ["<pad>", "</s>", "<unk>", "a", "man", "speaks", "waves", "his", "hand"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    path = tmp_path_factory.mktemp("t5")
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(path)
    config = T5Config(vocab_size=len(words), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                      decoder_start_token_id=0)
    T5EncoderModel(config).save_pretrained(path)
    return path


def test_t5_through_the_transformers_backend(tiny_t5):
    """A T5 folder loads as T5EncoderModel: [max_length, d_model] states, mask = words + </s>."""
    enc = build_text_encoder("transformers", max_length=6, weights=str(tiny_t5))
    states, mask = enc.encode("a man waves")
    assert enc.model_type == "t5" and type(enc.model).__name__ == "T5EncoderModel"
    assert states.shape == (6, 16) and mask.tolist() == [True] * 4 + [False] * 2
