"""Tests of AKD: a hand-computed pair of keypoint arrays, and MediaPipe on a photo moved by a known offset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnihuman_pipeline.metrics import keypoints
from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem


def test_akd_by_hand():
    """Frame 0: joints 0 and 1 visible in both, 20 and 10 px apart (joint 2 hidden in the real frame) -> 15;
    frame 1: joint 0, 0 px -> 0; frame 2: nothing in common, skipped. AKD = 7.5 px over 2 frames."""
    gen, real = np.zeros((3, 3, 3)), np.zeros((3, 3, 3))
    gen[0] = [[0.5, 0.5, 0.9], [0.1, 0.1, 0.9], [0.9, 0.9, 0.9]]
    real[0] = [[0.6, 0.5, 0.9], [0.1, 0.2, 0.9], [0.0, 0.0, 0.0]]
    gen[1, 0], real[1, 0] = [0.3, 0.3, 0.9], [0.3, 0.3, 0.8]
    gen[2, 0], real[2, 1] = [0.3, 0.3, 0.9], [0.3, 0.3, 0.9]
    real[:, :, :2][real[..., 2] == 0] = np.nan  # absent points are NaN in the pose layout
    value, n = keypoints.average_keypoint_distance(gen, real, (100, 200), 0.5)  # H 100, W 200
    assert value == pytest.approx(7.5) and n == 2
    value, n = keypoints.average_keypoint_distance(gen[2:], real[2:], (100, 200), 0.5)
    assert math.isnan(value) and n == 0


def _shifted(frame: np.ndarray, dx: int, dy: int) -> np.ndarray:
    import cv2

    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(frame, m, frame.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def test_mediapipe_akd_of_a_moved_photo():
    """The astronaut vs itself: 0 px; vs the photo moved by (8, 6) px: about 10 px (MediaPipe Pose, 4 frames)."""
    pytest.importorskip("mediapipe")
    import skimage.data

    from omnihuman_pipeline.scoring._frames import resize_short_side

    frame = resize_short_side(skimage.data.astronaut(), 256)
    still = np.stack([frame] * 4)
    moved = np.stack([_shifted(frame, 8, 6)] * 4)
    metric = keypoints.MediaPipeAKD()
    same = metric.score_video(VideoItem("same", still, still))
    shift = metric.score_video(VideoItem("moved", moved, still))
    assert same.values["akd_mediapipe"] == pytest.approx(0.0, abs=1e-6) and same.n == 4
    assert 7.0 < shift.values["akd_mediapipe"] < 13.0


def test_akd_needs_real_frames():
    """Without real frames AKD fails with "no_real_frames"."""
    with pytest.raises(MetricFailure, match="no_real_frames"):
        keypoints.MediaPipeAKD().score_video(VideoItem("v", np.zeros((4, 8, 8, 3), np.uint8)))
