"""A heavier loss on the mouth region (``train.flow.mouth_weight``), from the clip's own face keypoints.

Lip sync is a few latent cells of a frame: under a uniform loss the mouth is ~3 % of the gradient, and a
small model learns the reference face long before it learns to move the mouth with the audio. Weighting
the mouth's latent cells (as Hallo and EchoMimic weight face and lip masks) spends more of the budget there.

The box comes from the body keypoints curation stored (OpenPose-18 order: 0 nose, 14/15 eyes): centred
under the nose, ``0.6 d`` either side and ``0.1 d`` to ``1.0 d`` below it, ``d`` the distance between the
eyes. Checked on the corpus's talking heads, where it holds the lips and the open mouth in every frame. A
latent frame uses the mean keypoints of its pixel frames; frames without a confident nose and eyes, and
clips without keypoints, keep the uniform loss.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from omnihuman_pipeline.models.latent_layout import latent_to_pixel_frames

NOSE, RIGHT_EYE, LEFT_EYE = 0, 14, 15
HALF_WIDTH, TOP, BOTTOM = 0.6, 0.1, 1.0  # in eye distances, relative to the nose


def mouth_box(body: np.ndarray, min_confidence: float = 0.3) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) in normalised image coordinates from one frame's keypoints [18, 3], or None."""
    joints = body[[NOSE, RIGHT_EYE, LEFT_EYE]]
    if not np.all(np.isfinite(joints)) or np.any(joints[:, 2] < min_confidence):
        return None
    d = float(np.linalg.norm(joints[1, :2] - joints[2, :2]))
    if d <= 0:
        return None
    x, y = float(joints[0, 0]), float(joints[0, 1])
    return x - HALF_WIDTH * d, y + TOP * d, x + HALF_WIDTH * d, y + BOTTOM * d


def box_cells(box: tuple[float, float, float, float], height: int, width: int) -> Tensor:
    """Bool [height, width]: latent cells whose centre is inside ``box`` (at least the cell holding its centre)."""
    x0, y0, x1, y1 = box
    ys = (torch.arange(height) + 0.5) / height
    xs = (torch.arange(width) + 0.5) / width
    inside = ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
    if not inside.any():
        cy = min(max(int((y0 + y1) / 2 * height), 0), height - 1)
        cx = min(max(int((x0 + x1) / 2 * width), 0), width - 1)
        inside[cy, cx] = True
    return inside


def mouth_weight_map(body: np.ndarray | None, num_latent: int, height: int, width: int, weight: float,
                     min_confidence: float = 0.3) -> Tensor:
    """Loss weights [T, height, width] of a window: ``weight`` on the mouth cells of each latent frame, 1 elsewhere.

    Args:
        body: keypoints [F, 18, 3] of the window's pixel frames (F = 1 + 4 (T - 1)), or None.
        num_latent: latent frames T.
        height, width: latent grid.
        weight: the mouth cells' weight (1: uniform).
        min_confidence: keypoints below it are missing.
    """
    out = torch.ones(num_latent, height, width)
    if body is None or weight == 1.0:
        return out
    for k in range(num_latent):
        frames = [f for f in latent_to_pixel_frames(k) if f < len(body)]
        boxes = [b for b in (mouth_box(body[f], min_confidence) for f in frames) if b is not None]
        if boxes:
            out[k][box_cells(tuple(np.mean(boxes, axis=0)), height, width)] = weight
    return out
