"""HKC and HKV (CyberHost, Lin et al. 2024; paper §4.1): hand quality and hand-motion richness of a generated video.

CyberHost defines HKC as the average confidence of the hand keypoints a pose estimator (DWPose) finds in the
generated frames, and HKV as the variance of the hand keypoint positions over time; it publishes no code, and
the paper does not say how positions are scaled or how keypoints are pooled. This module fixes both:

- a hand counts as **detected** in a frame when at least `MIN_HAND_POINTS` = 11 of its 21 points have a score
  >= `min_confidence` (0.3, the DWPose renderer's drawing threshold; the same rule as the curate pose scorer's
  hand visibility);
- **HKC** = mean over (frame, hand) pairs with a detected hand of the mean score of its 21 points, in [0, 1];
- **HKV** = per hand side and keypoint, the population variance over the frames where that hand is detected
  (and that point scores >= `min_confidence`) of the x and of the y position **in pixels of the generated
  frames**, averaged over the 21 x 2 coordinates, then over the hands with >= 2 such frames. Units: px². Pixels,
  because DWPose reports pixels and the paper's values (Table 3: 23-48) are far above what positions normalised
  by the frame size could give (< 0.1); whether CyberHost reports a variance or a standard deviation, and at which
  resolution, is not published, so absolute values are not comparable with the paper's. Compare HKV only between
  videos of the same resolution.

Backends: `hands` = DWPose (real, weights `dwpose_det` / `dwpose_pose`) -> `hkc`, `hkv`; `hands_mediapipe`
(offline default) -> `hkc_mediapipe`, `hkv_mediapipe`. MediaPipe Hands returns no per-point score, so
`hkc_mediapipe` averages MediaPipe Pose's visibility of the wrist, pinky, index and thumb landmarks of each hand
Hands found; `hkv_mediapipe` uses the 21 Hands points. Neither is comparable with the DWPose numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics import _pose
from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore

MIN_HAND_POINTS = 11  # of 21, as scoring.pose.MIN_HAND_POINTS
MIN_CONFIDENCE = 0.3  # DWPose score counting a point as found


def detected_hands(hands: np.ndarray, min_confidence: float = MIN_CONFIDENCE,
                   min_points: int = MIN_HAND_POINTS) -> np.ndarray:
    """bool [T, 2]: which hands (person's left, right) are detected in each frame of hands [T, 2, 21, 3]."""
    conf = np.nan_to_num(np.asarray(hands)[..., 2], nan=0.0)
    return (conf >= min_confidence).sum(-1) >= min_points


def hand_keypoint_confidence(scores: np.ndarray, detected: np.ndarray) -> float:
    """HKC: mean over detected (frame, hand) pairs of the mean point score.

    Args:
        scores: [T, 2, K] per-point scores (K = 21 for DWPose, 4 Pose landmarks for MediaPipe).
        detected: bool [T, 2].

    Returns:
        HKC in the scores' range; NaN when no hand is detected.
    """
    if not np.any(detected):
        return math.nan
    return float(np.nan_to_num(np.asarray(scores, np.float64), nan=0.0)[detected].mean(-1).mean())


def hand_keypoint_variance(hands_px: np.ndarray, detected: np.ndarray,
                           min_confidence: float = MIN_CONFIDENCE) -> float:
    """HKV: temporal variance of the hand keypoint positions, px² (see the module docstring).

    Args:
        hands_px: [T, 2, 21, 3] with x, y in pixels and the point score.
        detected: bool [T, 2].
        min_confidence: a point enters only in frames where it scores at least this.

    Returns:
        HKV in px²; NaN when no hand is detected in 2 or more frames.
    """
    per_hand = []
    for side in range(hands_px.shape[1]):
        coords = []
        for k in range(hands_px.shape[2]):
            point = hands_px[:, side, k]
            ok = detected[:, side] & (np.nan_to_num(point[:, 2], nan=0.0) >= min_confidence)
            ok &= np.isfinite(point[:, :2]).all(-1)
            if ok.sum() >= 2:
                coords.extend(np.var(point[ok, :2], axis=0))  # x and y, ddof 0
        if coords:
            per_hand.append(float(np.mean(coords)))
    return float(np.mean(per_hand)) if per_hand else math.nan


def _score(arrays: dict[str, np.ndarray], scores: np.ndarray, detected: np.ndarray, names: tuple[str, str],
           min_confidence: float) -> VideoScore:
    # 1. a video without a detected hand has no HKC / HKV (portrait framing): a per-video failure, not a zero
    if not detected.any():
        raise MetricFailure("no_hands")
    # 2. HKC over the detected (frame, hand) pairs
    hkc = hand_keypoint_confidence(scores, detected)
    # 3. HKV over time, positions in pixels of the generated frames
    hkv = hand_keypoint_variance(_pose.to_pixels(arrays["hands"], arrays["frame_size"]), detected, min_confidence)
    return VideoScore({names[0]: hkc, names[1]: hkv}, n=int(detected.any(-1).sum()),
                      extra={"frames": float(len(detected)), "hand_share": float(detected.any(-1).mean())})


@dataclass
class DWPoseHands:
    """HKC / HKV of one generated video with DWPose keypoints.

    Attributes:
        det_path: `yolox_l.onnx`; None resolves "dwpose_det".
        pose_path: `dw-ll_ucoco_384.onnx`; None resolves "dwpose_pose".
        device: "cpu" or "cuda" (onnxruntime provider).
        sample_fps: frames per second analysed (25: every frame).
        max_frames: cap on analysed frames per video.
        min_confidence: point score that counts (detection rule and HKV).
    """

    key: ClassVar[str] = "hands"
    outputs: ClassVar[tuple[str, ...]] = ("hkc", "hkv")
    backend: ClassVar[str] = "dwpose"
    kind: ClassVar[str] = "per_video"

    det_path: str | None = None
    pose_path: str | None = None
    device: str = "cpu"
    sample_fps: float = _pose.DEFAULT_SAMPLE_FPS
    max_frames: int = _pose.DEFAULT_MAX_FRAMES
    min_confidence: float = MIN_CONFIDENCE
    _model: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._model is None:
            self._model = _pose.build_dwpose(self.det_path, self.pose_path, self.device, self.sample_fps,
                                             self.max_frames)  # fmt: skip

    def score_video(self, item: VideoItem) -> VideoScore:
        self.setup()
        arrays = _pose.dwpose_keypoints(self._model, item.generated, item.fps)
        detected = detected_hands(arrays["hands"], self.min_confidence)
        return _score(arrays, arrays["hands"][..., 2], detected, self.outputs, self.min_confidence)


@dataclass
class MediaPipeHands:
    """`hkc_mediapipe` / `hkv_mediapipe` of one generated video (offline default; see the module docstring).

    Attributes:
        sample_fps: frames per second analysed (25: every frame).
        max_frames: cap on analysed frames per video.
    """

    key: ClassVar[str] = "hands_mediapipe"
    outputs: ClassVar[tuple[str, ...]] = ("hkc_mediapipe", "hkv_mediapipe")
    backend: ClassVar[str] = "mediapipe"
    kind: ClassVar[str] = "per_video"

    sample_fps: float = _pose.DEFAULT_SAMPLE_FPS
    max_frames: int = _pose.DEFAULT_MAX_FRAMES

    def setup(self) -> None:
        from omnihuman_pipeline.scoring._mediapipe import import_mediapipe

        import_mediapipe()

    def score_video(self, item: VideoItem) -> VideoScore:
        arrays = _pose.mediapipe_keypoints(item.generated, item.fps, sample_fps=self.sample_fps,
                                           max_frames=self.max_frames)  # fmt: skip
        # a hand Hands found has all 21 points (score 1.0); absent ones are NaN / 0
        detected = detected_hands(arrays["hands"], 0.5, 21)
        return _score(arrays, arrays["hand_visibility"], detected, self.outputs, 0.5)
