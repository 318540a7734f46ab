"""Pose guider: latent-resolution, frame-pooled, windowed features; a fresh model ignores them."""

from __future__ import annotations

import torch

from omnihuman_pipeline.models import (
    OmniHumanConfig,
    OmniHumanTransformer,
    PoseGuider,
    latent_to_pixel_frames,
)


def _guider(window: int = 1) -> PoseGuider:
    torch.manual_seed(0)
    guider = PoseGuider(out_channels=2, widths=(4, 8, 8), window=window, temporal_factor=4)
    torch.nn.init.normal_(guider.proj_out.weight)
    return guider


def test_pose_guider_shape_and_a_fresh_model_ignores_it() -> None:
    """[B, 3, 9, 32, 48] maps give [B, 2 * 3, 3, 4, 6] features; a fresh model's pose input channels are zero."""
    maps = torch.rand(2, 3, 9, 32, 48)
    assert _guider().forward(maps).shape == (2, 6, 3, 4, 6)
    model = OmniHumanTransformer(OmniHumanConfig.from_preset("tiny"))
    c = model.config.in_channels
    assert torch.count_nonzero(model.patch_embed.proj.weight[:, c:]) == 0
    assert torch.count_nonzero(model.patch_embed.proj.weight[:, :c]) > 0
    assert torch.count_nonzero(model.pose_guider(maps)) > 0  # the guider itself is live, so it gets a gradient


def test_pose_features_follow_vae_grouping_and_window() -> None:
    """Centre features of latent k change only with its own pixel frames; the ±1 blocks are its neighbours."""
    guider = _guider(window=1)
    maps = torch.rand(1, 3, 13, 16, 16)
    with torch.no_grad():
        base = guider(maps)  # [1, 3 * 2, 4, 2, 2], channel blocks: offset -1, 0, +1
        centre = base[:, 2:4]
        assert torch.equal(base[:, 0:2, 1:], centre[:, :, :-1])  # offset -1 at k = centre at k - 1
        assert torch.equal(base[:, 4:6, :-1], centre[:, :, 1:])  # offset +1 at k = centre at k + 1
        assert torch.equal(base[:, 0:2, 0], centre[:, :, 0])  # edges replicated
        changed = maps.clone()
        changed[:, :, latent_to_pixel_frames(2)] = torch.rand(1, 3, 4, 16, 16)
        diff = (guider(changed)[:, 2:4] - centre).abs().amax(dim=(0, 1, 3, 4))
    assert diff.nonzero().flatten().tolist() == [2]
