"""Long videos segment by segment (paper §3.4): one latent sequence, sampled a segment at a time.

A video of N frames at 25 fps is one causal-VAE latent sequence of L = 1 + ceil((N - 1) / 4) latent
frames (pixel frames 1 + 4(L - 1) >= N; the tail past N is dropped). It is generated as consecutive
segments of at most the training window's latent frames. Segment i + 1 starts where segment i
ended and takes the last latents generated so far (those holding the last 5 pixel frames: 2 latent
frames) as its clean motion frames, exactly as training cut its motion-frame windows out of one
clip's latents (``training/data.py``); its audio features and pose maps are those of its pixel
frames by the same rule (``latent_layout.window_pixel_frames``). The whole sequence is decoded once,
so segment boundaries are not decoder boundaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from omnihuman_pipeline.models.config import VAE_TEMPORAL_FACTOR
from omnihuman_pipeline.models.latent_layout import num_latent_frames, num_pixel_frames, window_pixel_frames

MOTION_LATENT_FRAMES = 2  # the latents of the last 5 pixel frames of a causal-VAE sequence


@dataclass(frozen=True)
class SegmentPlan:
    """How a video of ``total`` frames is cut into generated segments of latent frames.

    Attributes:
        latents: latent frames of each segment.
        total: frames of the output video.
        motion: motion latent frames each later segment takes from the sequence so far.
    """

    latents: tuple[int, ...]
    total: int
    motion: int = MOTION_LATENT_FRAMES

    @property
    def starts(self) -> tuple[int, ...]:
        """Index of each segment's first latent frame in the whole sequence."""
        out, start = [], 0
        for n in self.latents:
            out.append(start)
            start += n
        return tuple(out)

    @property
    def n_latent(self) -> int:
        return sum(self.latents)

    @property
    def generated(self) -> int:
        """Pixel frames the whole sequence decodes to (>= total)."""
        return num_pixel_frames(self.n_latent)

    @property
    def trim(self) -> int:
        """Frames dropped at the end (0 when N = 1 + 4k)."""
        return self.generated - self.total

    def condition_frames(self, index: int) -> range:
        """Pixel frames whose audio features and pose maps drive segment ``index``."""
        return window_pixel_frames(self.starts[index], self.latents[index])

    def motion_frames(self, index: int) -> int:
        """Motion latent frames segment ``index`` is given (0 for the first)."""
        return min(self.motion, self.starts[index])


def max_causal_frames(n: int, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Largest ``1 + factor * k <= n``."""
    return 1 + factor * ((n - 1) // factor)


def plan_segments(total: int, max_segment_frames: int, motion: int = MOTION_LATENT_FRAMES,
                  factor: int = VAE_TEMPORAL_FACTOR) -> SegmentPlan:
    """The fewest segments of at most ``max_segment_frames`` pixel frames covering ``total`` frames, as even
    as possible (longer ones first).

    Args:
        total: output frames N >= 1.
        max_segment_frames: longest segment in pixel frames (rounded down to ``1 + 4k``; the training window).
        motion: motion latent frames handed on.
        factor: VAE temporal compression.

    Returns:
        The plan.
    """
    if total < 1:
        raise ValueError(f"a video needs at least one frame, got {total}")
    longest = num_latent_frames(max_causal_frames(max(1, max_segment_frames), factor), factor)
    if longest <= motion and total > max_segment_frames:
        raise ValueError(f"segments of {longest} latent frames cannot continue from {motion} motion latent frames")
    n_latent = 1 + math.ceil((total - 1) / factor)
    n = math.ceil(n_latent / longest)
    sizes = tuple(n_latent // n + (1 if i < n_latent % n else 0) for i in range(n))
    return SegmentPlan(sizes, total, motion)


def motion_latents(sequence: Tensor, n_motion: int = MOTION_LATENT_FRAMES) -> Tensor:
    """The motion latents of the next segment: the last ``n_motion`` latent frames of ``sequence`` [B, C, T, h, w]."""
    return sequence[:, :, -n_motion:]
