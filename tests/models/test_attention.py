"""Attention backends agree; text padding and disabled text are masked out of the joint attention."""

from __future__ import annotations

import torch

from omnihuman_pipeline.models import attention


def test_sdpa_and_math_kernels_agree_with_mask() -> None:
    """The SDPA and reference math kernels give the same output with a key padding mask."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 7, 16, generator=gen) for _ in range(3))
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, -3:] = False
    assert torch.allclose(attention(q, k, v, mask, "sdpa"), attention(q, k, v, mask, "math"), atol=1e-5)
    # a masked key has no influence at all
    v2 = v.clone()
    v2[1, :, -1] += 100.0
    assert torch.allclose(attention(q, k, v2, mask, "math")[1], attention(q, k, v, mask, "math")[1])


def test_model_backends_agree(inputs_factory, make_model, tiny_config) -> None:
    """The full model with every condition on gives the same output under SDPA and math attention."""
    model = make_model()
    x = inputs_factory(tiny_config)
    with torch.no_grad():
        out_sdpa = model(**x)
        model.set_attention_backend("math")
        out_math = model(**x)
    assert torch.allclose(out_sdpa, out_math, atol=1e-5)


def test_text_padding_tokens_are_ignored(inputs_factory, make_model, tiny_config) -> None:
    """Changing the embedding of a padded text token leaves the output unchanged."""
    model = make_model()
    x = inputs_factory(tiny_config)
    y = dict(x, text_emb=x["text_emb"].clone())
    y["text_emb"][0, -1] += 5.0  # padding token of sample 0
    with torch.no_grad():
        assert torch.equal(model(**x)[0], model(**y)[0])


def test_text_off_equals_no_text(inputs_factory, make_model, tiny_config) -> None:
    """text_on=False (the CFG null path) equals running with no text tokens at all."""
    model = make_model()
    x = inputs_factory(tiny_config)
    off = dict(x, text_on=torch.zeros(2, dtype=torch.bool))
    none = dict(x, text_emb=None, text_mask=None, text_on=None)
    with torch.no_grad():
        assert torch.allclose(model(**off), model(**none), atol=1e-6)
        assert not torch.allclose(model(**x), model(**none), atol=1e-3)
