"""Pose condition (paper §3.2): a pose guider encodes skeleton maps into pixel-aligned latent features.

Each pixel frame's skeleton RGB map goes through a small strided Conv2d stack (8x down to the latent
grid); the features of a latent frame's pixel frames are averaged (the causal VAE's grouping), joined
with the ±window neighbouring latent frames along channels, and stacked with the noisy latents before
the patch embedding. The patch embedding's pose input channels start at zero (``mmdit.init_weights``),
so a fresh guider adds nothing yet gets a gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .latent_layout import num_latent_frames, pixel_to_latent_pool_matrix


class PoseGuider(nn.Module):
    """Skeleton maps [B, 3, F, Hp, Wp] -> pose features [B, C_p * (2w+1), T, Hp/8, Wp/8].

    Args:
        out_channels: features per latent frame C_p.
        widths: channels of the stride-2 convolutions (their count sets the 2**n spatial factor).
        window: neighbouring latent frames joined on each side.
        temporal_factor: pixel frames per latent frame (VAE).
    """

    def __init__(self, out_channels: int, widths: tuple[int, ...], window: int, temporal_factor: int) -> None:
        super().__init__()
        self.window = window
        self.temporal_factor = temporal_factor
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1), nn.SiLU()]
        c_in = widths[0]
        for c_out in widths:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.SiLU()]
            c_in = c_out
        self.encoder = nn.Sequential(*layers)
        self.proj_out = nn.Conv2d(c_in, out_channels, 1)

    def forward(self, pose_maps: Tensor) -> Tensor:
        """Encode, pool to latent frames and join neighbours.

        Args:
            pose_maps: [B, 3, F, Hp, Wp] skeleton RGB in [-1, 1], F = 1 + 4k pixel frames.

        Returns:
            [B, C_p * (2 * window + 1), T, Hp / 8, Wp / 8], T = 1 + (F - 1) / 4.
        """
        b, _, n_pixel, hp, wp = pose_maps.shape
        n_latent = num_latent_frames(n_pixel, self.temporal_factor)
        # 1. per-pixel-frame encoder                                      [B * F, C_p, H, W]
        feats = self.proj_out(self.encoder(pose_maps.transpose(1, 2).flatten(0, 1)))
        feats = feats.unflatten(0, (b, n_pixel))  # [B, F, C_p, H, W]
        # 2. average the pixel frames of each latent frame                [B, T, C_p, H, W]
        pool = pixel_to_latent_pool_matrix(n_latent, self.temporal_factor).to(feats)
        feats = torch.einsum("tf,bfchw->btchw", pool, feats)
        # 3. join ±window neighbouring latent frames, offset-major (edges replicated)
        offsets = torch.arange(-self.window, self.window + 1, device=feats.device)
        index = (torch.arange(n_latent, device=feats.device)[:, None] + offsets).clamp(0, n_latent - 1)
        feats = feats[:, index].flatten(2, 3)  # [B, T, (2w+1) * C_p, H, W]
        return feats.transpose(1, 2)  # [B, (2w+1) * C_p, T, H, W]


def with_pose_features(noisy_latents: Tensor, guider: PoseGuider | None, channels: int, pose_maps: Tensor | None,
                       pose_feats: Tensor | None, pose_on: Tensor | None) -> Tensor:
    """The patch embedding's input: noisy latents [B, C, T, H, W] with the pose features stacked on channels.

    Zeros stand in where there is no pose (no maps, a pose-off sample), so the input width never changes.
    ``pose_feats`` (precomputed ``guider(pose_maps)``) is used instead of ``pose_maps`` when given. Without a
    guider the latents are returned as they are, and pose inputs are an error.
    """
    if guider is None:
        if pose_maps is not None or pose_feats is not None:
            raise ValueError("pose_maps given but the config has with_pose=False")
        return noisy_latents
    b, _, t, h, w = noisy_latents.shape
    pose = noisy_latents.new_zeros(b, channels, t, h, w)
    if pose_feats is None and pose_maps is not None:
        pose_feats = guider(pose_maps.to(noisy_latents.dtype))
    if pose_feats is not None:
        pose = pose_feats.to(noisy_latents.dtype)
        if pose.shape[2:] != noisy_latents.shape[2:]:
            raise ValueError(f"pose features {tuple(pose.shape)} do not match latents {(t, h, w)}")
        if pose_on is not None:
            pose = pose * pose_on.to(pose.dtype)[:, None, None, None, None]
    return torch.cat([noisy_latents, pose], dim=1)
