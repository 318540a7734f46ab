"""Pure index maths between pixel frames, causal-VAE latent frames and the packed token sequence.

The causal 3D VAE (paper §3.1) encodes pixel frame 0 alone into latent frame 0, then every group of
``r`` (= 4) pixel frames into one latent frame: latent frame k >= 1 <-> pixel frames 4k-3 .. 4k.
Everything the model needs about time (motion frames, audio windows, pose pooling, loss mask) is
derived here, so it is unit-tested once.

Packed video sequence (per sample), before the text tokens of the joint attention::

    [ reference tokens | motion-frame tokens | noisy tokens ]
      n_ref              n_motion              n_noisy
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .config import VAE_TEMPORAL_FACTOR

NUM_MOTION_PIXEL_FRAMES = 5  # paper §3.4: "the last five frames of the previous segment"


def num_latent_frames(num_pixel_frames: int, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Latent frames produced by the causal VAE from ``num_pixel_frames`` = 1 + factor * k frames."""
    if num_pixel_frames < 1 or (num_pixel_frames - 1) % factor:
        raise ValueError(f"a causal VAE needs 1 + {factor}k pixel frames, got {num_pixel_frames}")
    return 1 + (num_pixel_frames - 1) // factor


def num_pixel_frames(num_latent: int, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Pixel frames decoded from ``num_latent`` latent frames (inverse of :func:`num_latent_frames`)."""
    if num_latent < 1:
        raise ValueError(f"need at least one latent frame, got {num_latent}")
    return 1 + factor * (num_latent - 1)


def pixel_to_latent_frame(pixel_frame: int, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Index of the latent frame that encodes ``pixel_frame`` (0 -> 0, 1..4 -> 1, 5..8 -> 2, ...)."""
    if pixel_frame < 0:
        raise ValueError(f"pixel frame index must be >= 0, got {pixel_frame}")
    return (pixel_frame + factor - 1) // factor


def latent_to_pixel_frames(latent_frame: int, factor: int = VAE_TEMPORAL_FACTOR) -> list[int]:
    """Pixel frames encoded by ``latent_frame``: [0] for 0, else [4k-3, 4k-2, 4k-1, 4k]."""
    if latent_frame < 0:
        raise ValueError(f"latent frame index must be >= 0, got {latent_frame}")
    if latent_frame == 0:
        return [0]
    return list(range(factor * latent_frame - factor + 1, factor * latent_frame + 1))


def motion_latent_frames(
    num_segment_pixel_frames: int,
    num_motion_pixel_frames: int = NUM_MOTION_PIXEL_FRAMES,
    factor: int = VAE_TEMPORAL_FACTOR,
) -> list[int]:
    """Latent frames of a segment that hold its last ``num_motion_pixel_frames`` pixel frames.

    Args:
        num_segment_pixel_frames: length of the previous segment in pixel frames (1 + 4k).
        num_motion_pixel_frames: motion frames carried over (5 in the paper).
        factor: VAE temporal compression.

    Returns:
        Sorted latent frame indices (e.g. 81 px frames, last 5 -> pixel 76..80 -> latent [19, 20]).
    """
    n_latent = num_latent_frames(num_segment_pixel_frames, factor)
    if not 1 <= num_motion_pixel_frames <= num_segment_pixel_frames:
        raise ValueError(f"cannot take {num_motion_pixel_frames} motion frames of {num_segment_pixel_frames}")
    first = num_segment_pixel_frames - num_motion_pixel_frames
    frames = sorted({pixel_to_latent_frame(f, factor) for f in range(first, num_segment_pixel_frames)})
    assert frames[-1] == n_latent - 1
    return frames


def window_pixel_frames(start_latent: int, num_latent: int, factor: int = VAE_TEMPORAL_FACTOR) -> range:
    """The pixel frames that drive a window of latent frames [start, start + T) of a longer clip.

    The model reads ``1 + factor * (T - 1)`` frames of audio / pose per T latent frames, the first
    latent frame standing on one pixel frame as the causal VAE's frame 0 does. A window that starts
    at latent ``s >= 1`` (a continuation after motion frames) therefore stands its first latent frame
    on that frame's last pixel frame ``factor * s`` (its other pixel frames are still within the
    audio tokens' ±window): frames ``factor * s`` … ``factor * (s + T - 1)``. For s = 0 this is the
    whole clip's own alignment, frames 0 … ``factor * (T - 1)``. Training windows and generated
    segments use this one rule, so their conditions line up the same way.

    Args:
        start_latent: index s of the window's first latent frame in the clip.
        num_latent: latent frames T in the window.
        factor: VAE temporal compression.

    Returns:
        The pixel frame indices, ``1 + factor * (T - 1)`` of them.
    """
    if start_latent < 0 or num_latent < 1:
        raise ValueError(f"bad window: start {start_latent}, {num_latent} latent frames")
    return range(factor * start_latent, factor * (start_latent + num_latent - 1) + 1)


def _audio_slot_frames(num_latent: int, window: int, factor: int) -> tuple[Tensor, Tensor, Tensor]:
    """Pixel frame of every audio token slot [T, factor, 2w+1] (unbounded), which slots a pixel frame fills
    (latent frame 0 has one), and each latent frame's last pixel frame [T]."""
    offsets = torch.arange(-window, window + 1)
    frames = torch.zeros(num_latent, factor, 2 * window + 1, dtype=torch.long)
    used = torch.zeros_like(frames, dtype=torch.bool)
    last = torch.zeros(num_latent, dtype=torch.long)
    for k in range(num_latent):
        pixels = latent_to_pixel_frames(k, factor)
        last[k] = pixels[-1]
        for slot, f in enumerate(pixels):
            frames[k, slot], used[k, slot] = f + offsets, True
    return frames, used, last


def audio_token_index(
    num_latent: int, num_audio_frames: int, window: int, factor: int = VAE_TEMPORAL_FACTOR
) -> tuple[Tensor, Tensor]:
    """Which 25 fps audio frames form the audio tokens of each latent frame (paper §3.2).

    Each audio frame f is joined by its neighbours f-window .. f+window; a latent frame's tokens are
    those windows for each of its pixel frames, so every latent frame has ``factor * (2w+1)`` slots.
    Slots outside the clip, and the missing pixel frames of latent frame 0, are marked invalid.

    Args:
        num_latent: latent frames T.
        num_audio_frames: audio frames F (must equal the pixel frames 1 + factor * (T-1)).
        window: neighbours on each side.
        factor: VAE temporal compression.

    Returns:
        ``index`` [T, K] long (invalid slots point at frame 0) and ``valid`` [T, K] bool, K = factor*(2w+1).
    """
    expected = num_pixel_frames(num_latent, factor)
    if num_audio_frames != expected:
        raise ValueError(
            f"{num_latent} latent frames need {expected} audio frames at 25 fps, got {num_audio_frames}"
        )
    frames, used, _ = _audio_slot_frames(num_latent, window, factor)
    valid = used & (frames >= 0) & (frames < num_audio_frames)
    index = torch.where(valid, frames, torch.zeros_like(frames))
    return index.flatten(1), valid.flatten(1)


def audio_token_times(num_latent: int, window: int, factor: int = VAE_TEMPORAL_FACTOR) -> Tensor:
    """Time [T, K] of each audio token slot of :func:`audio_token_index`, in pixel frames relative to its latent
    frame's last pixel frame (0 = the last frame, -factor .. -1 earlier ones, > 0 the neighbours after it)."""
    frames, used, last = _audio_slot_frames(num_latent, window, factor)
    times = torch.where(used, frames - last[:, None, None], torch.zeros_like(frames)).float()
    return times.flatten(1)


def pixel_to_latent_pool_matrix(num_latent: int, factor: int = VAE_TEMPORAL_FACTOR) -> Tensor:
    """Averaging matrix [T, F]: row k is 1/|frames(k)| on the pixel frames of latent frame k."""
    n_pixel = num_pixel_frames(num_latent, factor)
    pool = torch.zeros(num_latent, n_pixel)
    for k in range(num_latent):
        frames = latent_to_pixel_frames(k, factor)
        pool[k, frames] = 1.0 / len(frames)
    return pool


def latent_frame_loss_mask(num_motion_latent: int, num_noisy_latent: int) -> Tensor:
    """Loss mask [Tm + T] over a clip's latent frames when motion frames lead the clip: False on motion frames."""
    return torch.cat(
        [torch.zeros(num_motion_latent, dtype=torch.bool), torch.ones(num_noisy_latent, dtype=torch.bool)]
    )


@dataclass(frozen=True)
class TokenLayout:
    """Where each kind of video token sits in the packed sequence of one sample.

    Attributes:
        tokens_per_frame: S = (H / ph) * (W / pw) tokens per token-frame.
        n_ref_frames: token-frames of the reference image (0 or 1).
        n_motion_frames: token-frames of the motion latents.
        n_noisy_frames: token-frames of the noisy latents.
    """

    tokens_per_frame: int
    n_ref_frames: int
    n_motion_frames: int
    n_noisy_frames: int

    @property
    def n_ref(self) -> int:
        return self.n_ref_frames * self.tokens_per_frame

    @property
    def n_motion(self) -> int:
        return self.n_motion_frames * self.tokens_per_frame

    @property
    def n_noisy(self) -> int:
        return self.n_noisy_frames * self.tokens_per_frame

    @property
    def n_video(self) -> int:
        """All video tokens: reference + motion + noisy."""
        return self.n_ref + self.n_motion + self.n_noisy

    @property
    def noisy_slice(self) -> slice:
        """Slice of the noisy tokens in the packed video sequence."""
        return slice(self.n_ref + self.n_motion, self.n_video)

    def loss_mask(self) -> Tensor:
        """Bool [n_video]: True on noisy tokens only; reference and motion tokens carry no loss."""
        mask = torch.zeros(self.n_video, dtype=torch.bool)
        mask[self.noisy_slice] = True
        return mask

    def temporal_positions(self) -> Tensor:
        """RoPE time index per token-frame [n_ref_frames + n_motion_frames + n_noisy_frames] (float).

        Noisy frames sit at 0..T-1 whatever else is packed, so their RoPE never depends on the
        conditions. Motion frames keep their true place before them (-Tm..-1). The reference gets
        time 0 on *every* token, i.e. the temporal rotation is the identity (paper §3.2).
        """
        ref = torch.zeros(self.n_ref_frames)
        motion = torch.arange(-self.n_motion_frames, 0, dtype=torch.float32)
        noisy = torch.arange(self.n_noisy_frames, dtype=torch.float32)
        return torch.cat([ref, motion, noisy])


def packed_layout(patch_size: tuple[int, int, int], noisy_shape: torch.Size, has_ref: bool,
                  num_motion_latent: int = 0) -> TokenLayout:
    """Packed-sequence layout for noisy latents of shape [B, C, T, H, W] with patch (pt, ph, pw)."""
    pt, ph, pw = patch_size
    _, _, t, h, w = noisy_shape
    if num_motion_latent % pt:
        raise ValueError(f"{num_motion_latent} motion latent frames are not divisible by pt={pt}")
    return TokenLayout((h // ph) * (w // pw), int(has_ref), num_motion_latent // pt, t // pt)
