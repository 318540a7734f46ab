"""Pose skeleton maps (paper §3.2) from stored keypoints, drawn DWPose/OpenPose style with OpenCV.

Shards store keypoints, not pictures: body [F, 18, 3] (OpenPose-18 order, x and y in [0, 1] of
the frame, confidence) and hands [F, 2, 21, 3], interpolated to every cached frame. The loader
draws the maps at the video bucket size with :func:`render_pose_maps`, a deterministic function of
those float32 arrays, so a map drawn at load time equals one drawn at write time pixel for pixel
(tests/features/test_pose_maps.py).

Drawing follows DWPose ``util.draw_bodypose`` / ``draw_handpose``: limbs are filled ellipses in the
18 OpenPose colours on black, dimmed to 60 %, joints are filled circles; hand bones are lines
coloured along the HSV hue wheel and hand joints are (0, 0, 255) dots, DWPose's pixel values. Line widths scale with the short side
(``stick_width`` / ``joint_radius`` are pixels at 512 px).
"""

from __future__ import annotations

import colorsys
import math
import os

import numpy as np

# OpenPose-18 limbs (0-based joint pairs) and the 18 limb / joint colours (RGB)
BODY_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
              (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
BODY_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
               (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
               (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
              (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
HAND_COLORS = tuple(tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0))
                    for i in range(len(HAND_EDGES)))
REFERENCE_SHORT_SIDE = 512
LIMB_DIM = 0.6  # DWPose dims the limb layer before drawing joints on top


def interpolate_keypoints(frame_index: np.ndarray, points: np.ndarray, n_frames: int, max_gap: int) -> np.ndarray:
    """Keypoints sampled at `frame_index` -> every frame 0..n_frames-1.

    A joint is valid where x, y and confidence are finite and confidence > 0. Between two valid
    samples at most `max_gap` frames apart x, y and confidence are linearly interpolated; before the
    first / after the last valid sample the nearest one is held for up to `max_gap` frames;
    everywhere else the joint is NaN (not drawn).

    Args:
        frame_index: int [T'] clip frame of each sample (sorted or not; duplicates keep the last).
        points: float [T', ..., 3] (x, y, confidence).
        n_frames: frames F of the cached clip.
        max_gap: longest gap in frames that is bridged.

    Returns:
        float32 [F, ..., 3].
    """
    frame_index = np.asarray(frame_index, np.int64)
    points = np.asarray(points, np.float32)
    order = np.argsort(frame_index, kind="stable")
    frame_index, points = frame_index[order], points[order]
    joint_shape = points.shape[1:-1]
    flat = points.reshape(len(points), -1, 3)
    out = np.full((n_frames, flat.shape[1], 3), np.nan, np.float32)
    targets = np.arange(n_frames)
    for j in range(flat.shape[1]):
        p = flat[:, j]
        ok = np.isfinite(p).all(axis=1) & (p[:, 2] > 0) & (frame_index >= 0)
        if not ok.any():
            continue
        src, val = frame_index[ok], p[ok]
        src, last = np.unique(src[::-1], return_index=True)
        val = val[::-1][last]
        pos = np.searchsorted(src, targets)
        prev = np.clip(pos - 1, 0, len(src) - 1)
        nxt = np.clip(pos, 0, len(src) - 1)
        exact = (pos < len(src)) & (src[nxt] == targets)
        inside = (pos > 0) & (pos < len(src)) & (src[nxt] - src[prev] <= max_gap)
        before = (pos == 0) & (src[0] - targets <= max_gap)
        after = (pos == len(src)) & (targets - src[-1] <= max_gap)
        for c in range(3):
            interp = np.interp(targets, src, val[:, c])  # holds the end values outside the range
            col = np.where(exact | inside | before | after, interp, np.nan)
            out[:, j, c] = col
    return out.reshape(n_frames, *joint_shape, 3)


def load_pose_arrays(path: str | os.PathLike, n_frames: int, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a curate ``<clip_id>.pose.npz`` and interpolate it to `n_frames` frames.

    Returns:
        body float32 [F, 18, 3] and hands float32 [F, 2, 21, 3] (NaN where absent).
    """
    with np.load(path) as data:
        index = data["frame_index"]
        body = interpolate_keypoints(index, data["body"], n_frames, max_gap)
        hands = (interpolate_keypoints(index, data["hands"], n_frames, max_gap) if "hands" in data.files
                 else np.full((n_frames, 2, 21, 3), np.nan, np.float32))
    return body, hands


def _valid(points: np.ndarray, min_confidence: float) -> list[bool]:
    """Per joint of [..., J, 3]: finite and confident (one vectorised test; a per-joint call cost ~3 us each)."""
    return (np.isfinite(points).all(axis=-1) & (points[..., 2] >= min_confidence)).tolist()


def render_pose_frame(body: np.ndarray, hands: np.ndarray | None, width: int, height: int, *,
                      min_confidence: float = 0.3, stick_width: int = 4, joint_radius: int = 4) -> np.ndarray:
    """One skeleton map: RGB uint8 [H, W, 3] from body [18, 3] and hands [2, 21, 3] (or None)."""
    import cv2

    scale = min(width, height) / REFERENCE_SHORT_SIDE
    stick = max(1, int(round(stick_width * scale)))
    radius = max(1, int(round(joint_radius * scale)))
    canvas = np.zeros((height, width, 3), np.uint8)
    xy = body[:, :2] * np.array([width, height], np.float32)
    ok = _valid(body, min_confidence)
    for (a, b), color in zip(BODY_LIMBS, BODY_COLORS, strict=False):
        if not (ok[a] and ok[b]):
            continue
        (x0, y0), (x1, y1) = xy[a], xy[b]
        length = math.hypot(float(x0 - x1), float(y0 - y1))
        angle = math.degrees(math.atan2(float(y0 - y1), float(x0 - x1)))
        polygon = cv2.ellipse2Poly((int((x0 + x1) / 2), int((y0 + y1) / 2)), (int(length / 2), stick),
                                   int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, color)
    canvas = (canvas * LIMB_DIM).astype(np.uint8)
    for j, color in enumerate(BODY_COLORS):
        if ok[j]:
            cv2.circle(canvas, (int(xy[j, 0]), int(xy[j, 1])), radius, color, thickness=-1)
    if hands is not None:
        for hand, ok in zip(hands, _valid(hands, min_confidence), strict=True):
            hxy = hand[:, :2] * np.array([width, height], np.float32)
            for (a, b), color in zip(HAND_EDGES, HAND_COLORS, strict=True):
                if ok[a] and ok[b]:
                    cv2.line(canvas, (int(hxy[a, 0]), int(hxy[a, 1])), (int(hxy[b, 0]), int(hxy[b, 1])),
                             color, thickness=max(1, stick // 2))
            for j in range(len(hand)):
                if ok[j]:
                    cv2.circle(canvas, (int(hxy[j, 0]), int(hxy[j, 1])), max(1, radius // 2), (0, 0, 255),
                               thickness=-1)
    return canvas


def render_pose_maps(body: np.ndarray, hands: np.ndarray | None, width: int, height: int, *,
                     min_confidence: float = 0.3, stick_width: int = 4, joint_radius: int = 4,
                     draw_hands: bool = True) -> np.ndarray:
    """Skeleton maps of a clip: RGB uint8 [F, H, W, 3] from body [F, 18, 3] and hands [F, 2, 21, 3].

    Training reads them as ``maps.permute(3, 0, 1, 2)`` -> [3, F, H, W] (``/ 255`` for [0, 1]).
    """
    return np.stack([
        render_pose_frame(body[f], hands[f] if (draw_hands and hands is not None) else None, width, height,
                          min_confidence=min_confidence, stick_width=stick_width, joint_radius=joint_radius)
        for f in range(len(body))
    ])
