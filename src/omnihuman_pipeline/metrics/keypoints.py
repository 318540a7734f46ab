"""AKD, average keypoint distance (Siarohin et al. 2019, used by CyberHost and the paper's Table 4): how far the
generated body's keypoints are from the real video's, frame by frame.

Procedure:

1. body keypoints (OpenPose-18) of the same sampled frames of the generated and the real video (frame t with frame
   t; both cut to the shorter video), from DWPose (`akd`, real backend) or MediaPipe Pose (`akd_mediapipe`, offline
   default);
2. per frame, the joints **visible in both** (score >= `min_confidence` in each; absent points never count);
3. their Euclidean distance in **pixels of the real video's frames** (normalised positions x W, y H of the real
   frame for both videos, so a generated video rendered at another resolution is compared in the real video's
   geometry), averaged over those joints;
4. AKD of the video = mean over frames with at least one joint visible in both; the suite averages videos.

Pixels of the real frames, not a size-normalised distance: that is how the AKD of FOMM and its followers is
reported (at their evaluation resolution), so values depend on the test videos' resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics import _pose
from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore

DWPOSE_MIN_CONFIDENCE = 0.3  # the DWPose renderer's threshold
MEDIAPIPE_MIN_CONFIDENCE = 0.5  # MediaPipe landmark visibility, as the curate pose scorer


def average_keypoint_distance(generated: np.ndarray, real: np.ndarray, frame_size: tuple[int, int],
                              min_confidence: float) -> tuple[float, int]:
    """AKD of one video pair (steps 2-4).

    Args:
        generated: [T, J, 3] normalised (x, y, score) of the generated frames.
        real: [T, J, 3] of the real frames (same sampled frames).
        frame_size: (H, W) of the real frames, px.
        min_confidence: score a joint needs in both videos.

    Returns:
        (AKD in px, number of frames that entered); NaN and 0 when no frame has a joint visible in both.
    """
    gen_px, real_px = _pose.to_pixels(generated, frame_size), _pose.to_pixels(real, frame_size)
    # 2. joints visible in both frames
    both = (np.nan_to_num(gen_px[..., 2], nan=0.0) >= min_confidence)
    both &= np.nan_to_num(real_px[..., 2], nan=0.0) >= min_confidence
    both &= np.isfinite(gen_px[..., :2]).all(-1) & np.isfinite(real_px[..., :2]).all(-1)
    # 3. their pixel distances, averaged per frame
    dist = np.linalg.norm(np.nan_to_num(gen_px[..., :2] - real_px[..., :2]), axis=-1)  # [T, J]
    # 4. over the frames that share a joint
    frames = both.any(-1)
    if not frames.any():
        return math.nan, 0
    per_frame = (dist * both).sum(-1)[frames] / both.sum(-1)[frames]
    return float(per_frame.mean()), int(frames.sum())


def _pair(item: VideoItem) -> tuple[np.ndarray, np.ndarray]:
    if item.real is None or len(item.real) == 0:
        raise MetricFailure("no_real_frames")
    n = min(len(item.generated), len(item.real))
    if n == 0:
        raise MetricFailure("no_generated_frames")
    return item.generated[:n], item.real[:n]


def _score(gen: dict, real: dict, min_confidence: float, name: str) -> VideoScore:
    value, n = average_keypoint_distance(gen["body"], real["body"], tuple(real["frame_size"]), min_confidence)
    if n == 0:
        raise MetricFailure("no_common_joints")
    return VideoScore({name: value}, n=n)


@dataclass
class DWPoseAKD:
    """AKD of one video pair with DWPose body keypoints.

    Attributes:
        det_path: `yolox_l.onnx`; None resolves "dwpose_det".
        pose_path: `dw-ll_ucoco_384.onnx`; None resolves "dwpose_pose".
        device: "cpu" or "cuda" (onnxruntime provider).
        sample_fps: frames per second compared (25: every frame).
        max_frames: cap on compared frames per video.
        min_confidence: joint score needed in both videos.
    """

    key: ClassVar[str] = "akd"
    outputs: ClassVar[tuple[str, ...]] = ("akd",)
    backend: ClassVar[str] = "dwpose"
    kind: ClassVar[str] = "per_video"

    det_path: str | None = None
    pose_path: str | None = None
    device: str = "cpu"
    sample_fps: float = _pose.DEFAULT_SAMPLE_FPS
    max_frames: int = _pose.DEFAULT_MAX_FRAMES
    min_confidence: float = DWPOSE_MIN_CONFIDENCE
    _model: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._model is None:
            self._model = _pose.build_dwpose(self.det_path, self.pose_path, self.device, self.sample_fps,
                                             self.max_frames)  # fmt: skip

    def score_video(self, item: VideoItem) -> VideoScore:
        gen, real = _pair(item)
        self.setup()
        kp = [_pose.dwpose_keypoints(self._model, v, item.fps) for v in (gen, real)]
        return _score(kp[0], kp[1], self.min_confidence, "akd")


@dataclass
class MediaPipeAKD:
    """`akd_mediapipe` of one video pair (offline default: MediaPipe Pose body keypoints).

    Attributes:
        sample_fps: frames per second compared (25: every frame).
        max_frames: cap on compared frames per video.
        min_confidence: landmark visibility needed in both videos.
    """

    key: ClassVar[str] = "akd_mediapipe"
    outputs: ClassVar[tuple[str, ...]] = ("akd_mediapipe",)
    backend: ClassVar[str] = "mediapipe"
    kind: ClassVar[str] = "per_video"

    sample_fps: float = _pose.DEFAULT_SAMPLE_FPS
    max_frames: int = _pose.DEFAULT_MAX_FRAMES
    min_confidence: float = MEDIAPIPE_MIN_CONFIDENCE

    def setup(self) -> None:
        from omnihuman_pipeline.scoring._mediapipe import import_mediapipe

        import_mediapipe()

    def score_video(self, item: VideoItem) -> VideoScore:
        gen, real = _pair(item)
        kp = [_pose.mediapipe_keypoints(v, item.fps, sample_fps=self.sample_fps, max_frames=self.max_frames,
                                        hands=False) for v in (gen, real)]  # fmt: skip
        return _score(kp[0], kp[1], self.min_confidence, "akd_mediapipe")
