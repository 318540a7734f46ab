"""What every evaluation metric takes and returns: test items in, per-video scores and set-level results out.

A metric is a small class with a config `key`, the result `outputs` it produces, a `backend` name, `setup()` (loads
weights once; raises `WeightsNotFoundError` when they are missing) and either

- `score_video(item) -> VideoScore` (per-video metrics: Sync-C/D, HKC/HKV, AKD, IQA/ASE, BRISQUE; the set value
  is the mean over videos), or
- `features(item) -> (generated [n, D], real [m, D])` (distribution metrics: FID, FVD; the set value is the Fréchet
  distance between all generated and all real features).

A per-video failure raises `MetricFailure(reason)`; `metrics.suite` turns it into a row with status "failed".
Bootstrap intervals resample videos with replacement (percentile interval), for distribution metrics too: a resample
takes the generated and the real features of the drawn videos together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Status = Literal["ok", "unavailable", "failed"]
DEFAULT_N_BOOTSTRAP = 1000
DEFAULT_LEVEL = 0.95
VIDEO_FPS = 25.0


@dataclass(frozen=True)
class MetricResult:
    """One set-level number of the evaluation report.

    Attributes:
        name: result name, e.g. "fid", "sync_c", or an offline default's own name ("sync_conf_mouth_envelope").
        value: the metric over the test set; NaN unless status is "ok".
        backend: the implementation and weights that produced it, e.g. "inception_fid", "mediapipe".
        status: "ok", "unavailable" (weights or a package missing) or "failed".
        reason: why it is not "ok" (the `WeightsNotFoundError` message, "no video scored", ...), else None.
        n: videos that entered the value.
        ci_low: lower end of the bootstrap interval over videos (NaN when it cannot be computed).
        ci_high: upper end.
    """

    name: str
    value: float
    backend: str
    status: Status = "ok"
    reason: str | None = None
    n: int = 0
    ci_low: float = math.nan
    ci_high: float = math.nan

    @classmethod
    def not_ok(cls, name: str, backend: str, status: Status, reason: str, n: int = 0) -> MetricResult:
        return cls(name, math.nan, backend, status, reason, n)


@dataclass
class VideoItem:
    """One test video.

    Attributes:
        video_id: stable id.
        generated: uint8 RGB frames [T, H, W, 3] of the generated video (a reference image: [1, H, W, 3]).
        real: uint8 RGB ground-truth frames [T', H', W', 3], or None.
        audio: float32 mono samples in [-1, 1] driving the video, or None.
        sample_rate: audio rate, Hz.
        fps: frame rate of both videos, Hz.
        reference: the reference image generation was given, uint8 RGB [H, W, 3], or None.
    """

    video_id: str
    generated: np.ndarray
    real: np.ndarray | None = None
    audio: np.ndarray | None = None
    sample_rate: int = 16_000
    fps: float = VIDEO_FPS
    reference: np.ndarray | None = None


@dataclass(frozen=True)
class VideoScore:
    """Per-video values of a metric's outputs and how many frames/clips/windows they came from."""

    values: dict[str, float]
    n: int
    extra: dict[str, float] = field(default_factory=dict)


class MetricFailure(Exception):
    """An expected per-video failure ("no_audio", "no_face", "no_real_frames", ...); the message is the reason."""


class MetricUnavailable(Exception):
    """A metric cannot run on this machine (a package is missing); the message says which and how to get it."""


def percentile_interval(samples: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """(low, high) percentiles of bootstrap `samples` [B] for a central `level` interval; NaNs are ignored."""
    ok = np.asarray(samples, np.float64)
    ok = ok[np.isfinite(ok)]
    if ok.size == 0:
        return math.nan, math.nan
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(ok, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_indices(n_videos: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """int64 [n_bootstrap, n_videos]: video indices drawn with replacement, one row per resample (seeded)."""
    return np.random.default_rng(seed).integers(0, n_videos, size=(n_bootstrap, n_videos))


def mean_with_interval(values: np.ndarray, *, n_bootstrap: int = DEFAULT_N_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                       seed: int = 0) -> tuple[float, float, float]:
    """Mean over videos and its percentile bootstrap interval.

    Args:
        values: [N] per-video values (finite).
        n_bootstrap: resamples; 0 skips the interval.
        level: central coverage of the interval.
        seed: resampling seed.

    Returns:
        (mean, ci_low, ci_high); NaN interval for fewer than 2 videos or no resamples.
    """
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    if v.size < 2 or n_bootstrap <= 0:
        return float(v.mean()), math.nan, math.nan
    means = v[bootstrap_indices(v.size, n_bootstrap, seed)].mean(axis=1)
    return (float(v.mean()), *percentile_interval(means, level))
