"""Frame sampling and resizing shared by the scorers (private)."""

from __future__ import annotations

import numpy as np


def spread_indices(n_frames: int, k: int) -> np.ndarray:
    """Indices of `k` frames spread evenly over a clip: the centres of `k` equal segments.

    Args:
        n_frames: number of frames in the clip.
        k: how many frames to pick; fewer come back when the clip is shorter.

    Returns:
        Sorted unique int indices in [0, n_frames), shape [min(k, n_frames)].
    """
    if n_frames <= 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    centres = (np.arange(min(k, n_frames)) + 0.5) * n_frames / min(k, n_frames)
    return np.unique(np.clip(centres.astype(np.int64), 0, n_frames - 1))


def window_starts(n_frames: int, window: int, k: int) -> np.ndarray:
    """First indices of `k` windows of `window` consecutive frames spread over a clip.

    Args:
        n_frames: number of frames in the clip.
        window: consecutive frames per window (>= 1).
        k: how many windows to place; overlapping duplicates are dropped.

    Returns:
        Sorted unique start indices such that `start + window <= n_frames`; empty when the clip is too short.
    """
    last = n_frames - window
    if last < 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, last, k)).astype(np.int64))


def resize_short_side(image: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize so that the shorter side is `short_side` px (area filter down, cubic up); None keeps it.

    Args:
        image: [H, W] or [H, W, C] array.
        short_side: target length of the shorter side in px, or None.

    Returns:
        The resized image, same dtype; the input itself when no resize is needed.
    """
    import cv2

    h, w = image.shape[:2]
    if short_side is None or min(h, w) == short_side:
        return image
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interp)


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] → uint8 luma [H, W] (ITU-R BT.601, as OpenCV)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
