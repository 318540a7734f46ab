"""Long videos segment by segment (paper §3.4): segment lengths, per-segment slices and motion frames.

A video of N frames at 25 fps is generated as consecutive segments, each a causal-VAE clip of
``1 + 4k`` pixel frames no longer than the segment length the model was trained on. The last five
pixel frames of segment i are carried into segment i + 1 as its motion frames: their latents
(``latent_layout.motion_latent_frames``, 2 latent frames for any segment of >= 5 frames) are packed
clean before the new noisy latents, so the new segment continues the motion and keeps the identity.

Segments do not overlap: segment i + 1's first frame follows segment i's last, and the output is
their concatenation. :func:`plan_segments` chooses lengths that add up to exactly N where the
``1 + 4k`` rule allows it (N - n divisible by 4 for n segments of >= 5 frames): every N but 2-4, 6-8,
11, 12 and 16 frames (all under 0.7 s), where the last segment is rounded up and its tail dropped
(``trim``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from omnihuman_pipeline.models.config import VAE_TEMPORAL_FACTOR
from omnihuman_pipeline.models.latent_layout import NUM_MOTION_PIXEL_FRAMES, motion_latent_frames

MIN_SEGMENT_FRAMES = 1 + VAE_TEMPORAL_FACTOR  # a segment must hold the 5 motion frames it hands on


@dataclass(frozen=True)
class SegmentPlan:
    """How a video of ``total`` frames is cut into generated segments.

    Attributes:
        frames: pixel frames of each segment, each ``1 + 4k``.
        total: frames of the output video.
    """

    frames: tuple[int, ...]
    total: int

    @property
    def starts(self) -> tuple[int, ...]:
        """First output frame of each segment."""
        out, start = [], 0
        for n in self.frames:
            out.append(start)
            start += n
        return tuple(out)

    @property
    def generated(self) -> int:
        """Frames generated (>= total)."""
        return sum(self.frames)

    @property
    def trim(self) -> int:
        """Frames dropped at the end of the last segment (0 when the lengths add up to ``total``)."""
        return self.generated - self.total

    def slice(self, index: int) -> slice:
        """Output frames of segment ``index``."""
        start = self.starts[index]
        return slice(start, start + self.frames[index])


def max_causal_frames(n: int, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Largest ``1 + factor * k <= n``."""
    return 1 + factor * ((n - 1) // factor)


def plan_segments(total: int, max_segment_frames: int, factor: int = VAE_TEMPORAL_FACTOR) -> SegmentPlan:
    """Segment lengths for a video of ``total`` frames (module docstring).

    The fewest segments whose lengths (each ``1 + 4k``, ``MIN_SEGMENT_FRAMES``..``max_segment_frames``)
    add up to exactly ``total``, as even as possible (longer ones first); when no such split exists,
    ``ceil(total / max)`` segments with the last rounded up to ``1 + 4k`` and trimmed.

    Args:
        total: output frames N >= 1.
        max_segment_frames: longest segment in pixel frames (rounded down to ``1 + 4k``, >= 5).
        factor: VAE temporal compression.

    Returns:
        The plan.
    """
    if total < 1:
        raise ValueError(f"a video needs at least one frame, got {total}")
    longest = max_causal_frames(max_segment_frames, factor)
    if longest < MIN_SEGMENT_FRAMES:
        raise ValueError(f"segments need at least {MIN_SEGMENT_FRAMES} frames, got max {max_segment_frames}")
    first = math.ceil(total / longest)
    for n in range(first, first + factor):
        if (total - n) % factor or not n * MIN_SEGMENT_FRAMES <= total <= n * longest:
            continue
        k_total = (total - n) // factor
        ks = [k_total // n + (1 if i < k_total % n else 0) for i in range(n)]
        return SegmentPlan(tuple(1 + factor * k for k in ks), total)
    rest = total - (first - 1) * longest
    last = 1 + factor * math.ceil((rest - 1) / factor)
    if first > 1 or total > 1:
        last = max(last, MIN_SEGMENT_FRAMES)
    return SegmentPlan((longest,) * (first - 1) + (last,), total)


def motion_latents(latents: Tensor, num_pixel_frames: int,
                   num_motion_pixel_frames: int = NUM_MOTION_PIXEL_FRAMES) -> Tensor:
    """The motion latents a segment hands to the next: the latent frames of its last 5 pixel frames.

    Args:
        latents: [B, C, T, h, w] the segment's sampled latents.
        num_pixel_frames: the segment's pixel frames (1 + 4(T-1)).
        num_motion_pixel_frames: motion frames carried over (paper: 5; fewer if the segment is shorter).

    Returns:
        [B, C, Tm, h, w] (Tm = 2 for 5 motion frames), a view of ``latents``' last frames.
    """
    frames = motion_latent_frames(num_pixel_frames, min(num_motion_pixel_frames, num_pixel_frames))
    return latents[:, :, frames[0]:frames[-1] + 1]
