"""Pose guider: latent-resolution, frame-pooled, windowed features; a fresh guider outputs zeros."""

from __future__ import annotations

import torch

from omnihuman_pipeline.models import PoseGuider, latent_to_pixel_frames


def _guider(window: int = 1, zero: bool = False) -> PoseGuider:
    torch.manual_seed(0)
    guider = PoseGuider(out_channels=2, widths=(4, 8, 8), window=window, temporal_factor=4)
    if not zero:
        torch.nn.init.normal_(guider.proj_out.weight)
    return guider


def test_pose_guider_shape_and_zero_init() -> None:
    """[B, 3, 9, 32, 48] maps give [B, 2 * 3, 3, 4, 6] features, all zero for a fresh guider."""
    maps = torch.rand(2, 3, 9, 32, 48)
    assert _guider().forward(maps).shape == (2, 6, 3, 4, 6)
    assert torch.count_nonzero(_guider(zero=True)(maps)) == 0


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
