"""Tests of HKC / HKV: hand-computed values on known keypoint arrays, the DWPose path, the MediaPipe default."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnihuman_pipeline.metrics import hands
from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem
from omnihuman_pipeline.scoring.pose import empty_points


def _hands(t: int) -> np.ndarray:
    return empty_points(t, 2, 21).astype(np.float64)


def test_detection_rule_counts_confident_points():
    """A hand is detected with 11 of 21 points at >= 0.3, not with 10."""
    h = _hands(2)
    h[0, 0, :11, 2] = 0.3
    h[1, 0, :10, 2] = 0.9
    np.testing.assert_array_equal(hands.detected_hands(h), [[True, False], [False, False]])


def test_hkc_by_hand():
    """Frame 0: left detected at 0.8 (right at 0.1 is not); frame 1: left 0.6, right 0.9 -> (0.8 + 0.6 + 0.9) / 3."""
    h = _hands(3)
    h[0, 0, :, 2], h[0, 1, :, 2] = 0.8, 0.1
    h[1, 0, :, 2], h[1, 1, :, 2] = 0.6, 0.9
    detected = hands.detected_hands(h)
    assert detected.sum() == 3
    assert hands.hand_keypoint_confidence(h[..., 2], detected) == pytest.approx((0.8 + 0.6 + 0.9) / 3)
    assert math.isnan(hands.hand_keypoint_confidence(h[..., 2], np.zeros((3, 2), bool)))


def test_hkv_by_hand():
    """Left hand at x = 10, 20, 30 px (y fixed) over 3 frames: var x = 200/3, var y = 0 -> 100/3 px²; the right hand,
    detected in one frame only, does not count; low-score points are left out."""
    h = _hands(3)
    h[:, 0, :, 0] = np.array([10.0, 20.0, 30.0])[:, None]
    h[:, 0, :, 1] = 5.0
    h[:, 0, :, 2] = 0.9
    h[0, 0, 20, :] = [500.0, 500.0, 0.1]  # one unreliable point in frame 0: skipped for that frame
    h[0, 1, :, :] = [40.0, 40.0, 0.9]
    detected = hands.detected_hands(h)
    value = hands.hand_keypoint_variance(h, detected)
    # 20 points with var x 200/3 over 3 frames, point 20 with var x 25 over 2 frames; y variance 0 everywhere
    assert value == pytest.approx((20 * 200 / 3 + 25) / 42)
    assert math.isnan(hands.hand_keypoint_variance(h[:1], detected[:1]))


def test_dwpose_path_with_stand_in_models(dwpose_models):
    """DWPose with the ONNX stand-ins (every point at one place, score 0.8): HKC 0.8, HKV 0 (no motion)."""
    det, pose = dwpose_models
    metric = hands.DWPoseHands(det_path=str(det), pose_path=str(pose), sample_fps=5.0)
    score = metric.score_video(VideoItem("v", np.zeros((10, 240, 320, 3), np.uint8)))
    assert score.values["hkc"] == pytest.approx(0.8) and score.values["hkv"] == pytest.approx(0.0, abs=1e-9)
    assert score.n == 2 and metric.backend == "dwpose"


def test_mediapipe_hands_on_a_raised_hand(raised_hand):
    """The astronaut raising a swaying drawn hand: found in every frame; HKC from Pose's hand visibilities in (0, 1];
    HKV > 0 from the sway."""
    pytest.importorskip("mediapipe")
    score = hands.MediaPipeHands().score_video(VideoItem("hand", raised_hand))
    assert score.n == len(raised_hand) and score.extra["hand_share"] == 1.0
    assert 0.0 < score.values["hkc_mediapipe"] <= 1.0 and score.values["hkv_mediapipe"] > 1.0


def test_mediapipe_no_hands_fails(talking_head):
    """A talking head framed at the chest shows no hand: the video fails with "no_hands"."""
    pytest.importorskip("mediapipe")
    with pytest.raises(MetricFailure, match="no_hands"):
        hands.MediaPipeHands(sample_fps=5.0).score_video(VideoItem("carphone", talking_head))
