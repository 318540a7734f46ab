"""3D rotary position embedding over (t, h, w) for video tokens (paper §3.2).

The head dimension is split into three parts (``rope_axes_dim``); each part rotates with one axis.
Reference tokens get time 0 on the temporal part, so their temporal rotation is the identity,
while their spatial parts keep the (h, w) grid. Text tokens get no RoPE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class RopeFreqs:
    """Real-valued rotation tables for N tokens.

    Attributes:
        cos: [N, head_dim], each angle repeated for its (even, odd) channel pair.
        sin: [N, head_dim].
    """

    cos: Tensor
    sin: Tensor


def rope_angles(positions: Tensor, dim: int, theta: float) -> Tensor:
    """Rotation angles [N, dim/2] for 1D ``positions`` [N] on a ``dim``-channel axis."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim))
    return positions.to(torch.float64)[:, None] * inv_freq[None, :]


def video_rope(
    frame_positions: Tensor,
    height: int,
    width: int,
    axes_dim: tuple[int, int, int],
    theta: float,
    spatial_scale: float = 1.0,
) -> RopeFreqs:
    """RoPE tables for a packed video sequence laid out frame by frame, row-major in (h, w).

    Args:
        frame_positions: [T_total] temporal position of each token-frame (see ``TokenLayout``).
        height: token rows per frame.
        width: token columns per frame.
        axes_dim: head-dim channels for (t, h, w).
        theta: base frequency.
        spatial_scale: multiplies the (h, w) positions (``OmniHumanConfig.rope_spatial_scale``).

    Returns:
        ``RopeFreqs`` with cos/sin of shape [T_total * height * width, sum(axes_dim)] in float32.
    """
    device = frame_positions.device
    t = frame_positions.to(torch.float64)
    h = torch.arange(height, dtype=torch.float64, device=device) * spatial_scale
    w = torch.arange(width, dtype=torch.float64, device=device) * spatial_scale
    grid_t, grid_h, grid_w = torch.meshgrid(t, h, w, indexing="ij")  # [T, H, W] each
    angles = torch.cat(
        [
            rope_angles(grid_t.flatten(), axes_dim[0], theta),
            rope_angles(grid_h.flatten(), axes_dim[1], theta),
            rope_angles(grid_w.flatten(), axes_dim[2], theta),
        ],
        dim=-1,
    )  # [N, head_dim / 2]
    angles = angles.repeat_interleave(2, dim=-1)  # [N, head_dim]
    return RopeFreqs(cos=angles.cos().float(), sin=angles.sin().float())


def apply_rope(x: Tensor, freqs: RopeFreqs) -> Tensor:
    """Rotate channel pairs (2i, 2i+1) of ``x`` [B, H, N, Dh] by the angles in ``freqs`` ([N, Dh])."""
    x_even, x_odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # [B, H, N, Dh/2] each
    rotated = torch.stack([-x_odd, x_even], dim=-1).flatten(-2)  # [B, H, N, Dh]
    out = x.float() * freqs.cos + rotated * freqs.sin
    return out.type_as(x)
