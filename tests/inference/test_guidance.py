"""Classifier-free guidance: branches, formulas, one batched forward, pose never guided, the speaker mask."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.inference.sampler import FULL, NULL, TEXT, Guidance, GuidedDenoiser, SegmentConditions
from omnihuman_pipeline.models import num_pixel_frames


def conditions(model, *, latent_frames=3, size=4, motion=2, audio=True, pose=True, seed=0) -> SegmentConditions:
    """Seeded batch-1 segment inputs for the tiny generation model."""
    gen = torch.Generator().manual_seed(seed)
    cfg, f = model.config, num_pixel_frames(latent_frames)
    text_mask = torch.ones(1, 6, dtype=torch.bool)
    text_mask[0, -2:] = False
    return SegmentConditions(
        text_emb=torch.randn(1, 6, cfg.text_dim, generator=gen), text_mask=text_mask,
        ref_latents=torch.randn(1, cfg.in_channels, 1, size, size, generator=gen),
        motion_latents=torch.randn(1, cfg.in_channels, motion, size, size, generator=gen) if motion else None,
        audio_feats=torch.randn(1, f, cfg.audio_layers, cfg.audio_dim, generator=gen) if audio else None,
        pose_maps=torch.rand(1, 3, f, 8 * size, 8 * size, generator=gen) * 2 - 1 if pose else None)


def noisy(model, latent_frames=3, size=4, seed=1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, model.config.in_channels, latent_frames, size, size, generator=gen)


SPEAKER = torch.zeros(4, 4)
SPEAKER[:, 2:] = 1.0  # the right half of the latent grid


@pytest.mark.parametrize("guidance,mask", [(Guidance(), None), (Guidance("separate", 1, 3.0, 7.5), None),
                                           (Guidance(), SPEAKER)])
def test_batched_branches_equal_sequential_passes(model_factory, guidance, mask):
    """One batched forward over the branches gives each branch's own forward to 1e-5 (and one call, not 2-3)."""
    model = model_factory()
    cond = conditions(model)
    batched = GuidedDenoiser(model, cond, guidance, mask=mask)
    sequential = GuidedDenoiser(model, cond, guidance, mask=mask, batched=False)
    x = noisy(model)
    vb, vs = batched.branch_velocities(x, 0.7), sequential.branch_velocities(x, 0.7)
    assert list(vb) == list(vs) == list(batched.branches) and len(vb) >= 2
    for name in vb:
        torch.testing.assert_close(vb[name], vs[name], rtol=0, atol=1e-5)
    torch.testing.assert_close(batched(x, 0.7), sequential(x, 0.7), rtol=0, atol=1e-4)
    assert batched.forward_calls == 2 and sequential.forward_calls == 2 * len(vb)


def test_pose_is_on_in_every_branch_and_only_text_and_audio_switch(model_factory):
    """The forward sees pose_on all True and identical pose features per branch; text/audio follow null/text/full."""
    model = model_factory()
    seen = {}

    def record(module, args, kwargs):
        seen.update(kwargs)

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        denoiser = GuidedDenoiser(model, conditions(model), Guidance("separate", 6.5, 2.0, 6.5))
        denoiser(noisy(model), 0.5)
    finally:
        handle.remove()
    assert denoiser.branches == (NULL, TEXT, FULL)
    assert seen["pose_on"].tolist() == [True, True, True]
    assert seen["pose_maps"] is None
    assert all(torch.equal(seen["pose_feats"][i], seen["pose_feats"][0]) for i in range(3))
    assert seen["text_on"].tolist() == [False, True, True] and seen["audio_on"].tolist() == [False, False, True]


def test_pose_features_computed_once_equal_the_pose_maps_path(model_factory):
    """The denoiser's once-per-segment pose features give the model's own pose-maps forward to 1e-6."""
    model = model_factory()
    cond, x = conditions(model), noisy(model)
    cached = GuidedDenoiser(model, cond, Guidance(scale=1.0)).branch_velocities(x, 0.4)[FULL]
    with torch.no_grad():
        direct = model(x, torch.tensor([0.4]), cond.text_emb, cond.text_mask, cond.ref_latents, cond.motion_latents,
                       cond.audio_feats, cond.pose_maps)
    torch.testing.assert_close(cached, direct, rtol=0, atol=1e-6)


def test_pose_switch_changes_the_prediction_so_guiding_it_would_matter(model_factory):
    """Sanity for the test above: pose does move the tiny model's output, so pose_on=True in all branches is real."""
    model = model_factory()
    cond = conditions(model)
    x = noisy(model)
    with_pose = GuidedDenoiser(model, cond, Guidance(scale=1.0)).branch_velocities(x, 0.5)[FULL]
    cond.pose_maps = None
    without = GuidedDenoiser(model, cond, Guidance(scale=1.0)).branch_velocities(x, 0.5)[FULL]
    assert (with_pose - without).abs().max() > 1e-4


def test_joint_and_separate_formulas(model_factory):
    """joint = v0 + s(v_ta - v0); separate = v0 + st(v_t - v0) + sa(v_ta - v_t), equal to joint when st = sa."""
    model = model_factory()
    cond, x = conditions(model), noisy(model)
    sep = GuidedDenoiser(model, cond, Guidance("separate", text_scale=2.0, audio_scale=5.0))
    v = sep.branch_velocities(x, 0.3)
    expected = v[NULL] + 2.0 * (v[TEXT] - v[NULL]) + 5.0 * (v[FULL] - v[TEXT])
    torch.testing.assert_close(sep(x, 0.3), expected, rtol=0, atol=1e-6)
    joint = GuidedDenoiser(model, cond, Guidance(scale=6.5))
    vj = joint.branch_velocities(x, 0.3)
    assert joint.branches == (NULL, FULL)
    torch.testing.assert_close(joint(x, 0.3), vj[NULL] + 6.5 * (vj[FULL] - vj[NULL]), rtol=0, atol=1e-6)
    equal = GuidedDenoiser(model, cond, Guidance("separate", text_scale=6.5, audio_scale=6.5))
    torch.testing.assert_close(equal(x, 0.3), joint(x, 0.3), rtol=0, atol=1e-4)


def test_branch_counts_per_form():
    """Passes per step: joint 2, separate 3, a mask 3, no audio 2, scale 1 a single branch."""
    assert Guidance().branches(audio=True) == (NULL, FULL)
    assert Guidance("separate").branches(audio=True) == (NULL, TEXT, FULL)
    assert Guidance().branches(audio=True, masked=True) == (NULL, TEXT, FULL)
    assert Guidance().branches(audio=False) == (NULL, TEXT)
    assert Guidance(scale=1.0).branches(audio=True) == (FULL,)
    with pytest.raises(ValueError, match="unknown CFG form"):
        Guidance("both")


@pytest.mark.parametrize("guidance", [Guidance(), Guidance("separate", text_scale=2.0, audio_scale=8.0)])
def test_speaker_mask_confines_the_audio_term(model_factory, guidance):
    """Outside the mask the guided velocity equals the no-audio-guidance one exactly; inside it differs."""
    model = model_factory()
    denoiser = GuidedDenoiser(model, conditions(model), guidance, mask=SPEAKER)
    x = noisy(model)
    guided = denoiser(x, 0.6)
    v = denoiser.branch_velocities(x, 0.6)
    s_text, _ = guidance.scales
    no_audio_guidance = v[NULL] + s_text * (v[TEXT] - v[NULL])
    outside, inside = SPEAKER == 0, SPEAKER == 1
    assert torch.equal(guided[..., outside], no_audio_guidance[..., outside])
    assert (guided[..., inside] - no_audio_guidance[..., inside]).abs().min() > 0
    with pytest.raises(ValueError, match="audio is not a condition"):
        GuidedDenoiser(model, conditions(model, audio=False), guidance, mask=SPEAKER)
