"""Speaker selection (paper §4.4): a latent-space mask that confines the audio guidance to one person.

The mask is either given (an image whose bright pixels mark the speaker) or built from a face box of
the reference image: the curate face detector (``scoring.face.MediaPipeFaces``) finds the faces,
``speaker`` picks one counted from the left, and the box is widened by ``box_scale`` around its
centre (a face box covers the face only; lips, jaw and head motion reach past it). A latent cell
belongs to the mask when its centre lies inside the box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from omnihuman_pipeline.inference.conditions import GenerationError
from omnihuman_pipeline.scoring.face import FaceBox


def detect_faces(image: np.ndarray, min_confidence: float = 0.7) -> list[FaceBox]:
    """Faces in an RGB uint8 image [H, W, 3], left to right (the curate face detector's boxes).

    Args:
        image: the reference image.
        min_confidence: detection score threshold (curate's default).

    Returns:
        Boxes as frame fractions, sorted by their centre's x.
    """
    from omnihuman_pipeline.scoring.base import AnalysisClip
    from omnihuman_pipeline.scoring.face import MediaPipeFaces

    boxes = MediaPipeFaces(min_confidence=min_confidence).detect(AnalysisClip(image[None], fps=25.0), 0)
    return sorted(boxes, key=lambda b: b.x0 + b.x1)


def choose_speaker(faces: Sequence[FaceBox], speaker: int, image_name: str = "the reference image") -> FaceBox:
    """The face of the chosen speaker (0 = leftmost).

    Raises:
        GenerationError: no face, or ``speaker`` out of range.
    """
    if not faces:
        raise GenerationError(f"no face found in {image_name}, so no speaker mask can be made from it: give "
                              "`speaker_mask` (an image, white on the speaker) or drop `speaker`")
    if not 0 <= speaker < len(faces):
        raise GenerationError(f"{image_name} shows {len(faces)} face(s) (0 = leftmost); speaker {speaker} is "
                              f"not one of 0..{len(faces) - 1}")
    return faces[speaker]


def box_mask(box: FaceBox, height: int, width: int, box_scale: float = 1.8) -> Tensor:
    """Latent-grid mask [height, width] (float 0/1) of a face box widened by ``box_scale``.

    Args:
        box: face box as fractions of the image.
        height: latent rows h.
        width: latent columns w.
        box_scale: growth of the box's width and height around its centre.

    Returns:
        1.0 on cells whose centre lies in the widened box, else 0.0.
    """
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    half_w, half_h = box_scale * (box.x1 - box.x0) / 2, box_scale * (box.y1 - box.y0) / 2
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    inside_y = (ys - cy).abs() <= half_h
    inside_x = (xs - cx).abs() <= half_w
    return (inside_y[:, None] & inside_x[None, :]).float()


def image_mask(mask_image: np.ndarray, height: int, width: int, threshold: float = 0.5) -> Tensor:
    """Latent-grid mask [height, width] from a mask picture (any size; bright = speaker).

    Each latent cell takes the mean brightness of its area of the picture (resized to the latent
    grid's aspect by area averaging) and is on above ``threshold``.

    Args:
        mask_image: uint8 [H, W] or [H, W, 3].
        height: latent rows h.
        width: latent columns w.
        threshold: share of bright pixels that turns a cell on.

    Returns:
        float 0/1 [height, width].

    Raises:
        GenerationError: the mask is empty.
    """
    gray = np.asarray(mask_image, np.float32)
    gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(gray / 255.0)[None, None], (height, width))
    mask = (pooled[0, 0] > threshold).float()
    if not mask.any():
        raise GenerationError("the speaker mask is empty at the latent resolution: paint the speaker white "
                              "(bright pixels mark where the audio drives)")
    return mask
