"""Helpers shared by the corpus tests (a uniquely named module, so no clash with other conftests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

UNRELATED = "notes/unrelated.txt"  # a file the corpus generator must leave alone


def decode_video(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of the first video stream as uint8 RGB [T, H, W, 3] and their times in seconds."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
    return np.stack(frames), np.asarray(times)


def _hue_deg(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    hsv = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV_FULL) for f in frames.reshape(-1, *frames.shape[-3:])])
    return hsv[..., 0].astype(np.float32) * (360.0 / 256.0), hsv[..., 1].astype(np.float32)


def circular_hue_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute hue difference in degrees over pixels saturated in both images."""
    ha, sa = _hue_deg(a)
    hb, sb = _hue_deg(b)
    mask = (sa > 60) & (sb > 60)
    d = np.abs(ha - hb)[mask]
    return float(np.minimum(d, 360.0 - d).mean())
