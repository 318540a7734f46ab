"""Does a generated video show the reference person? Face share and face-crop similarity, under their own names.

Procedure (no network beyond MediaPipe FaceMesh, which ships in its wheel):

1. FaceMesh landmarks on the reference image give the face box (the landmarks' extent, grown by ``BOX_SCALE``);
2. on each generated frame FaceMesh looks for a face: ``face_share`` is the share of frames where it finds one;
3. every generated frame is cropped at the *reference's* face box (the place the person is expected; a model that
   draws the face elsewhere or not at all scores low) and compared with the reference's crop, both resized to
   ``CROP`` px: ``identity_ssim_face`` (SSIM, luma) and ``identity_psnr_face`` (dB, RGB), means over frames.

These are not an identity-embedding metric (ArcFace cosine, as some papers report): they say whether the frames
keep the reference's face where it was, which is what a reference-conditioned model must learn first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore

BOX_SCALE = 1.2  # the landmarks' extent grown by this much (forehead, chin)
CROP = 96  # px, both crops are resized to CROP x CROP before comparing


def face_box(landmarks: np.ndarray, height: int, width: int, scale: float = BOX_SCALE) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) px of the landmarks' extent [N, 2] (pixels of a height x width image) grown by ``scale``."""
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    half = scale * max(xs.max() - xs.min(), ys.max() - ys.min()) / 2
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(width, cx + half)), int(min(height, cy + half))
    return x0, y0, x1, y1


def crop(frame: np.ndarray, box: tuple[int, int, int, int], size: int = CROP) -> np.ndarray:
    """The box of a uint8 RGB frame resized to size x size (area-averaged)."""
    import cv2

    x0, y0, x1, y1 = box
    return cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def crop_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(SSIM of the luma, PSNR in dB of RGB) of two uint8 crops of one size."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    luma = np.array([0.299, 0.587, 0.114])
    ssim = structural_similarity(a @ luma, b @ luma, data_range=255.0)
    return float(ssim), float(peak_signal_noise_ratio(a, b, data_range=255))


@dataclass
class FaceIdentityMetric:
    """Face share and face-crop SSIM / PSNR of each generated video against its reference image (module docstring)."""

    key: ClassVar[str] = "identity_face"
    outputs: ClassVar[tuple[str, ...]] = ("face_share", "identity_ssim_face", "identity_psnr_face")
    backend: ClassVar[str] = "facemesh_crop"
    kind: ClassVar[str] = "per_video"

    def setup(self) -> None:
        from omnihuman_pipeline.scoring._mediapipe import import_mediapipe

        import_mediapipe()

    def score_video(self, item: VideoItem) -> VideoScore:
        from omnihuman_pipeline.scoring.lipsync import face_mesh_landmarks

        reference = getattr(item, "reference", None)
        if reference is None:
            raise MetricFailure("no_reference")
        frames = item.generated
        # 1. the reference's face box
        [ref_faces] = face_mesh_landmarks(reference[None], 1)
        if not ref_faces:
            raise MetricFailure("no_face_in_reference")
        h, w = frames.shape[1:3]
        ref = reference if reference.shape[:2] == (h, w) else _resize(reference, h, w)
        scale = np.array([w / reference.shape[1], h / reference.shape[0]])  # landmarks are the reference's pixels
        box = face_box(ref_faces[0] * scale, h, w)
        # 2. faces found in the generated frames
        found = [len(f) > 0 for f in face_mesh_landmarks(frames, 1)]
        # 3. crops at the reference's box
        ref_crop = crop(ref, box)
        pairs = [crop_similarity(crop(frame, box), ref_crop) for frame in frames]
        ssim, psnr = np.mean(pairs, axis=0)
        return VideoScore({"face_share": float(np.mean(found)), "identity_ssim_face": float(ssim),
                           "identity_psnr_face": float(psnr)}, n=len(frames))


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
