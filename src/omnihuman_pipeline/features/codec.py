"""A lossless space-time patchify codec with the causal video VAE's layout (offline default).

Pixel frame 0 is encoded alone and every later group of 4 frames together, 8x8 pixels per latent
cell, exactly like the causal 3D VAE (paper §3.1; ``models/latent_layout.py``)::

    video [3, F, H, W], F = 1 + 4(T-1)  ->  latents [3*4*8*8 = 768, T, H/8, W/8]

Latent frame 0 holds frame 0 *replicated* 4 times (the causal VAE's replicate padding, so every
latent frame is a 4-frame group and frame 0 looks like a still group); decoding averages the 4
replicas, which returns frame 0 exactly. Channels are ordered (colour, frame-in-group, dy, dx).
Nothing is learned or lost: encode→decode returns the input bit-exactly, as floats in [-1, 1] and,
after :func:`to_uint8`, as uint8 pixels. Shards store the uint8 form (``stored * 2/255 - 1`` gives
the latents), half the bytes of float16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from omnihuman_pipeline.models.config import VAE_SPATIAL_FACTOR, VAE_TEMPORAL_FACTOR
from omnihuman_pipeline.models.latent_layout import num_latent_frames, num_pixel_frames

UINT8_SCALE, UINT8_OFFSET = 2.0 / 255.0, -1.0


@dataclass
class StoredLatents:
    """Latents in their storage form: ``latents = stored.float() * scale + offset``."""

    stored: Tensor
    scale: float = 1.0
    offset: float = 0.0

    def latents(self, dtype: torch.dtype = torch.float32) -> Tensor:
        return dequantize(self.stored, self.scale, self.offset, dtype)


TIME_MAJOR = "TCHW"  # stored latents' layout: [T, C, h, w], so a window of frames is one contiguous range


def to_time_major(stored: Tensor) -> Tensor:
    """[C, T, h, w] -> the storage layout [T, C, h, w] (contiguous)."""
    return stored.permute(1, 0, 2, 3).contiguous()


def channels_first(stored: Tensor, layout: str | None) -> Tensor:
    """A stored latent tensor as [C, T, h, w] (a view): ``layout`` from the entry's meta (None: already so)."""
    return stored.permute(1, 0, 2, 3) if layout == TIME_MAJOR else stored


def dequantize(stored: Tensor, scale: float, offset: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """``stored * scale + offset`` in `dtype` (identity for scale 1, offset 0)."""
    x = stored.to(dtype)
    return x if (scale == 1.0 and offset == 0.0) else x * scale + offset


def to_unit(frames: np.ndarray | Tensor) -> Tensor:
    """RGB uint8 [F, H, W, 3] -> float32 [3, F, H, W] in [-1, 1] (v / 127.5 - 1)."""
    x = torch.as_tensor(np.asarray(frames)).permute(3, 0, 1, 2)
    return x.to(torch.float32) / 127.5 - 1.0


def to_uint8(video: Tensor) -> np.ndarray:
    """float [3, F, H, W] in [-1, 1] -> RGB uint8 [F, H, W, 3] (round to nearest)."""
    x = ((video.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(1, 2, 3, 0).contiguous().numpy()


class PatchifyCodec:
    """Space-time patchify with temporal factor 4 and spatial factor 8 (module docstring).

    Args:
        temporal: pixel frames per latent frame after the first.
        spatial: pixels per latent cell along H and W.
    """

    name = "patchify"

    def __init__(self, temporal: int = VAE_TEMPORAL_FACTOR, spatial: int = VAE_SPATIAL_FACTOR):
        self.temporal, self.spatial = temporal, spatial
        self.latent_channels = 3 * temporal * spatial * spatial

    def describe(self) -> dict:
        return {"latent_channels": self.latent_channels, "temporal_factor": self.temporal,
                "spatial_factor": self.spatial, "lossless": True}

    def patchify(self, video: Tensor) -> Tensor:
        """[3, F, H, W] (any dtype) -> [768, T, H/8, W/8], T = 1 + (F-1)/4."""
        c, f, h, w = video.shape
        r, s = self.temporal, self.spatial
        t = num_latent_frames(f, r)
        if h % s or w % s:
            raise ValueError(f"frame size {w}x{h} is not a multiple of {s}")
        first = video[:, :1].expand(c, r, h, w)
        x = torch.cat([first, video[:, 1:]], dim=1)  # [3, 4T, H, W]
        x = x.reshape(c, t, r, h // s, s, w // s, s)  # [c, T, dt, h, dy, w, dx]
        return x.permute(0, 2, 4, 6, 1, 3, 5).reshape(c * r * s * s, t, h // s, w // s)

    def unpatchify(self, latents: Tensor) -> Tensor:
        """[768, T, h, w] -> [3, 1 + 4(T-1), 8h, 8w]; frame 0 is the mean of its 4 replicas."""
        ch, t, h, w = latents.shape
        r, s = self.temporal, self.spatial
        c = ch // (r * s * s)
        x = latents.reshape(c, r, s, s, t, h, w).permute(0, 4, 1, 5, 2, 6, 3)  # [c, T, dt, h, dy, w, dx]
        x = x.reshape(c, t * r, h * s, w * s)
        first = x[:, :r].float().mean(dim=1, keepdim=True).to(x.dtype) if x.is_floating_point() else x[:, :1]
        out = torch.cat([first, x[:, r:]], dim=1)
        assert out.shape[1] == num_pixel_frames(t, r)
        return out

    def encode(self, frames: np.ndarray) -> StoredLatents:
        """RGB uint8 [F, H, W, 3] -> uint8 latents (exact); ``.latents()`` maps them to [-1, 1]."""
        video = torch.as_tensor(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)
        return StoredLatents(self.patchify(video).contiguous(), UINT8_SCALE, UINT8_OFFSET)

    def encode_unit(self, video: Tensor) -> Tensor:
        """float [3, F, H, W] in [-1, 1] -> float latents (a reshape: bit-exact)."""
        return self.patchify(video)

    def decode(self, latents: Tensor) -> Tensor:
        """float latents [768, T, h, w] -> video [3, F, 8h, 8w] in [-1, 1]."""
        return self.unpatchify(latents)
