"""What every scorer returns and how scorers plug into the curate pipeline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Score:
    """One signal of one clip.

    Attributes:
        value: the score; NaN when `error` is set.
        backend: name of the implementation that produced it (e.g. "farneback", "brisque").
        error: why no value could be computed (e.g. "too_short"), else None.
        extra: further named measurements written as `<signal>_<key>` columns (scalars, strings).
        arrays: per-frame data later stages reuse (e.g. keypoints [T, K, 3]); saved next to the
            clip as `<clip_id>.<signal>.npz`, its path in the `<signal>_arrays` column.
    """

    value: float
    backend: str
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def failed(cls, backend: str, error: str, **extra: Any) -> Score:
        return cls(math.nan, backend, error, dict(extra))


@dataclass
class AnalysisClip:
    """A clip decoded once at analysis resolution; every scorer reads from it.

    Attributes:
        frames: uint8 RGB frames, [T, H, W, 3].
        fps: frame rate of `frames` in Hz.
        audio: float32 mono samples in [-1, 1], or None when the source has no audio.
        sample_rate: audio rate in Hz.
        clip_id: stable id of the clip.
        memo: results scorers share within this clip (e.g. detections on a frame several scorers sample),
            keyed by whoever computes them; see `scoring._mediapipe`.
    """

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None = None
    sample_rate: int = 16_000
    clip_id: str = ""
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps if self.fps else 0.0


class Scorer(Protocol):
    """A pluggable signal: `setup()` loads weights once per worker, `score()` runs per clip."""

    signal: str
    backend: str

    def setup(self) -> None: ...

    def score(self, clip: AnalysisClip) -> Score: ...
