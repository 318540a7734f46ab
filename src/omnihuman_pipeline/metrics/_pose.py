"""Body and hand keypoints of evaluation videos, through the curate pose scorers (`scoring.pose`) at evaluation rate.

Both backends return the pose scorer's layout (`scoring.pose` module docstring): `frame_index` [T'], `body`
[T', 18, 3] OpenPose-18, `hands` [T', 2, 21, 3] (person's left, right), x / y normalised by the frame width /
height, absent points NaN with confidence 0, `frame_size` (H, W). MediaPipe adds `hand_visibility` [T', 2, 4]: Pose's
own visibility of each hand's wrist, pinky, index and thumb landmarks, the only per-keypoint confidence MediaPipe
gives for a hand (Hands returns none; the pose scorer marks its points 1.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# MediaPipe Pose-33 hand landmarks (wrist, pinky, index, thumb) of the person's left and right hand
MP_HAND_LANDMARKS = ((15, 17, 19, 21), (16, 18, 20, 22))
DEFAULT_SAMPLE_FPS = 25.0  # every frame of a 25 fps video
DEFAULT_MAX_FRAMES = 10_000


def to_pixels(points: np.ndarray, frame_size: tuple[int, int] | np.ndarray) -> np.ndarray:
    """Normalised (x, y, conf) [..., 3] -> the same with x, y in pixels of a frame of `frame_size` (H, W)."""
    h, w = (float(v) for v in frame_size)
    out = np.array(points, np.float64, copy=True)
    out[..., 0] *= w
    out[..., 1] *= h
    return out


def onnx_providers(device: str) -> list[str] | None:
    """onnxruntime providers for a torch-style device name: CUDA first for "cuda[:i]", else the CPU default."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(device).startswith("cuda") else None


def mediapipe_keypoints(frames: np.ndarray, fps: float, *, sample_fps: float = DEFAULT_SAMPLE_FPS,
                        max_frames: int = DEFAULT_MAX_FRAMES, **pose_options: Any) -> dict[str, np.ndarray]:
    """MediaPipe Pose + Hands keypoints of the sampled frames of one video (offline default backend).

    Args:
        frames: uint8 RGB [T, H, W, 3].
        fps: frame rate, Hz.
        sample_fps: frames per second analysed (25: every frame of a 25 fps video).
        max_frames: cap on sampled frames, spread over the video.
        pose_options: further `scoring.pose.MediaPipePose` settings.

    Returns:
        The module docstring's arrays, `hand_visibility` included.
    """
    from omnihuman_pipeline.scoring.base import AnalysisClip
    from omnihuman_pipeline.scoring.pose import MediaPipePose, sample_indices

    scorer = MediaPipePose(sample_fps=sample_fps, max_frames=max_frames, **pose_options)
    clip = AnalysisClip(frames, fps)
    idx = sample_indices(len(frames), fps, sample_fps, max_frames)
    bodies, hands, visibility = [], [], []
    for i, found in zip(idx, scorer.landmarks(clip, idx), strict=True):
        body, hand = scorer.detect(clip, int(i), found)
        bodies.append(body)
        hands.append(hand)
        vis = np.zeros((2, 4), np.float32)
        if found is not None:
            vis[:] = [[found.landmark[k].visibility for k in side] for side in MP_HAND_LANDMARKS]
        visibility.append(vis)
    return {
        "frame_index": np.asarray(idx, np.int64),
        "body": _stack(bodies, (18, 3)),
        "hands": _stack(hands, (2, 21, 3)),
        "hand_visibility": _stack(visibility, (2, 4)),
        "frame_size": np.asarray(frames.shape[1:3], np.int64),
    }


def _stack(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    return np.stack(parts).astype(np.float32) if parts else np.zeros((0, *shape), np.float32)


def build_dwpose(det_path: str | None, pose_path: str | None, device: str, sample_fps: float, max_frames: int):
    """A set-up `scoring.pose.DWPose` (loads both ONNX files; raises `WeightsNotFoundError` when one is missing)."""
    from omnihuman_pipeline.scoring.pose import DWPose

    model = DWPose(det_path=det_path, pose_path=pose_path, sample_fps=sample_fps, max_frames=max_frames,
                   providers=onnx_providers(device))  # fmt: skip
    model.setup()
    return model


def dwpose_keypoints(model, frames: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """DWPose keypoints of the sampled frames of one video (the person with the largest box), module layout."""
    from omnihuman_pipeline.scoring.base import AnalysisClip

    arrays, _ = model.keypoints(AnalysisClip(frames, fps))
    return arrays
