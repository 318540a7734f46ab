"""OmniHuman's conditions on a tiny random diffusers WanTransformer3DModel (saved and loaded as a folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import WanTransformer3DModel

from omnihuman_pipeline.models import pixel_to_latent_frame
from omnihuman_pipeline.models.pretrained import load_pretrained_t2v
from omnihuman_pipeline.models.registry import build_model
from omnihuman_pipeline.models.wan import (
    WanOmniTransformer,
    read_diffusers_weights,
    wan_omni_config,
    wan_rope,
)
from tests.wan_tiny import save_tiny_wan_transformer, tiny_wan_transformer_config

SIZE = 4  # latent H = W -> 2x2 tokens per latent frame
OMNI = dict(audio_layers=2, audio_dim=8, audio_hidden=16, audio_window=0, pose_channels=2, pose_window=1,
            pose_guider_widths=(4, 4, 4))


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory) -> Path:
    """A random tiny Wan text-to-video transformer saved with ``save_pretrained`` (diffusers layout)."""
    return save_tiny_wan_transformer(tmp_path_factory.mktemp("wan") / "transformer")


def load_wrapped(folder: Path, **omni) -> tuple[WanOmniTransformer, WanTransformer3DModel]:
    bare = WanTransformer3DModel.from_pretrained(folder).eval()
    config = wan_omni_config(bare.config, **{**OMNI, **omni})
    model = build_model(config).eval()
    report = load_pretrained_t2v(model, read_diffusers_weights(folder), key_map=lambda k: f"backbone.{k}")
    assert not report.skipped and "backbone.patch_embedding.weight" in report.expanded + report.loaded
    return model, bare


def inputs(config, *, batch=2, frames=3, text_len=5, seed=0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    n_pixel = 1 + 4 * (frames - 1)
    return {
        "noisy_latents": torch.randn(batch, config.in_channels, frames, SIZE, SIZE, generator=gen),
        "timestep": torch.rand(batch, generator=gen),
        "text_emb": torch.randn(batch, text_len, config.text_dim, generator=gen),
        "audio_feats": torch.randn(batch, n_pixel, config.audio_layers, config.audio_dim, generator=gen),
        "pose_maps": torch.rand(batch, 3, n_pixel, 8 * SIZE, 8 * SIZE, generator=gen) * 2 - 1,
    }


def test_zero_init_invariant_equals_the_bare_diffusers_model(wan_folder):
    """Audio and pose just added, no reference or motion: the output is Wan's own, to float tolerance."""
    model, bare = load_wrapped(wan_folder)
    x = inputs(model.config)
    with torch.no_grad():
        ours = model(**x)
        theirs = bare(x["noisy_latents"], x["timestep"] * 1000, x["text_emb"], return_dict=False)[0]
    assert ours.shape == x["noisy_latents"].shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert model.config.backbone == "wan" and model.config.rope_axes_dim == (4, 4, 4)


def test_rope_matches_wan_and_puts_the_reference_at_time_zero(wan_folder):
    """Noisy frames get Wan's own table; the reference token-frame has the identity temporal rotation."""
    bare = WanTransformer3DModel.from_pretrained(wan_folder)
    latents = torch.zeros(1, 4, 3, SIZE, SIZE)
    cos_wan, sin_wan = bare.rope(latents)
    cos, sin = wan_rope(torch.arange(3.0), 2, 2, 12)
    torch.testing.assert_close(cos.float(), cos_wan.float())
    torch.testing.assert_close(sin.float(), sin_wan.float())
    model, _ = load_wrapped(wan_folder)
    layout = model.token_layout(torch.Size((1, 4, 3, SIZE, SIZE)), has_ref=True, num_motion_latent=1)
    positions = layout.temporal_positions()
    assert positions.tolist() == [0.0, -1.0, 0.0, 1.0, 2.0]
    cos, sin = wan_rope(positions, 2, 2, 12)
    t_dim = model.config.rope_axes_dim[0]
    ref = slice(0, layout.n_ref)
    assert torch.all(cos[0, ref, 0, :t_dim] == 1) and torch.all(sin[0, ref, 0, :t_dim] == 0)
    motion = slice(layout.n_ref, layout.n_ref + layout.n_motion)
    assert not torch.all(sin[0, motion, 0, :t_dim] == 0)  # motion sits at -1, not at 0


def test_reference_and_motion_condition_the_noisy_frames(wan_folder):
    model, _ = load_wrapped(wan_folder)
    x = inputs(model.config)
    gen = torch.Generator().manual_seed(5)
    ref = torch.randn(2, 4, 1, SIZE, SIZE, generator=gen)
    motion = torch.randn(2, 4, 1, SIZE, SIZE, generator=gen)
    with torch.no_grad():
        plain = model(**x)
        with_ref = model(**x, ref_latents=ref, motion_latents=motion)
    assert with_ref.shape == plain.shape and (with_ref - plain).abs().max() > 1e-4


def test_one_audio_frame_changes_exactly_its_own_latent_frames(wan_folder):
    """Trained audio (non-zero output), one block: perturbing pixel frame 6 changes latent frame 2 only."""
    torch.manual_seed(1)
    config = wan_omni_config(tiny_wan_transformer_config(num_layers=1), **OMNI)
    model = build_model(config).eval()
    with torch.no_grad():
        for p in model.audio_attn.parameters():
            p.copy_(0.3 * torch.randn_like(p))
    x = inputs(config, frames=4)
    y = dict(x, audio_feats=x["audio_feats"].clone())
    y["audio_feats"][:, 6] += 1.0
    with torch.no_grad():
        diff = (model(**x) - model(**y)).abs().amax(dim=(0, 1, 3, 4))
    changed = {int(k) for k in torch.nonzero(diff > 1e-6).flatten()}
    assert changed == {pixel_to_latent_frame(6)} == {2}


def test_pose_channels_start_with_no_effect_and_learn(wan_folder):
    """New pose input channels are zero (old ones copied): pose maps change nothing, yet get a gradient."""
    model, bare = load_wrapped(wan_folder)
    weight = model.backbone.patch_embedding.weight
    assert torch.equal(weight[:, :4], bare.patch_embedding.weight) and not weight[:, 4:].any()
    x = inputs(model.config)
    with torch.no_grad():
        a = model(**x)
        b = model(**{**x, "pose_maps": -x["pose_maps"]})
    torch.testing.assert_close(a, b)
    model.train()
    model(**x).square().mean().backward()
    assert weight.grad[:, 4:].abs().sum() > 0


def test_feature_channels_must_match_the_backbone():
    """Features from another VAE or text encoder give one error naming both numbers."""
    with pytest.raises(ValueError, match="latent channels is 768 but the Wan backbone's in_channels is 4"):
        wan_omni_config(tiny_wan_transformer_config(), in_channels=768)
    with pytest.raises(ValueError, match="text width is 384 but the Wan backbone's text_dim is 16"):
        wan_omni_config(tiny_wan_transformer_config(), text_dim=384)


def test_gradient_checkpointing_gives_identical_gradients(wan_folder):
    model, _ = load_wrapped(wan_folder)
    x = inputs(model.config)
    grads = []
    for enabled in (False, True):
        model.zero_grad()
        model.enable_gradient_checkpointing(enabled)
        model.train()
        model(**x).square().mean().backward()
        grads.append(model.backbone.blocks[0].ffn.net[0].proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])
