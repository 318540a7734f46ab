"""FVD (Unterthiner et al. 2018; paper §4.1) the way StyleGAN-V computes it (`src/metrics/frechet_video_distance.py`).

Procedure:

1. clips of `CLIP_FRAMES` = 16 consecutive frames (StyleGAN-V's `fvd2048_16f`, subsample factor 1), here every
   non-overlapping clip of a video from its first frame (StyleGAN-V draws one clip per video from 2048 videos; a
   test set of ~100 videos needs all its clips for a stable covariance); a video under 16 frames has no clip;
2. each clip as StyleGAN-V hands it to the detector: uint8 [B, 3, 16, H, W] (channels before time), called with
   `rescale=True, resize=True, return_features=True`. The I3D torchscript (`i3d_torchscript.pt`, weights key
   `i3d_fvd`, an exact port of the tf.hub `i3d-kinetics-400/1` module) then rescales 0-255 to [-1, 1] and resizes
   the frames to 224x224 itself, as the original FVD's preprocessing does;
3. `return_features=True` returns the raw **400-d** output before the softmax, i.e. the Kinetics-400 logits
   averaged over time (`RGB/inception_i3d/Mean` in the TF graph: the embedding the original FVD uses), not a
   1024/2048-d pooled feature; the features are those 400 numbers;
4. Fréchet distance between Gaussians fitted to the generated and the real clip features (`frechet`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem

logger = logging.getLogger(__name__)

CLIP_FRAMES = 16
DETECTOR_KWARGS = {"rescale": True, "resize": True, "return_features": True}  # StyleGAN-V's compute_fvd
FEATURE_DIM = 400
WEIGHTS_KEY = "i3d_fvd"


def load_i3d(path: str | None = None, device: str = "cpu"):
    """The I3D torchscript (`i3d_torchscript.pt`) in eval mode on `device`.

    Its `forward(x, rescale=False, resize=False, return_features=False)` takes uint8 or float [B, 3, T, H, W].

    Raises:
        WeightsNotFoundError: no file; the message names it, the setting and where it is published.
    """
    import torch

    from omnihuman_pipeline import weights

    file = weights.resolve(WEIGHTS_KEY, path)
    return torch.jit.load(str(file), map_location=device).eval()


def video_clips(frames: np.ndarray, clip_frames: int = CLIP_FRAMES, max_clips: int | None = None) -> np.ndarray:
    """Step 1: non-overlapping clips from the first frame.

    Args:
        frames: uint8 RGB [T, H, W, 3].
        clip_frames: frames per clip.
        max_clips: keep at most this many (the first ones); None keeps all.

    Returns:
        uint8 [K, clip_frames, H, W, 3], K = T // clip_frames (capped); K = 0 for a short video.
    """
    k = len(frames) // clip_frames
    if max_clips is not None:
        k = min(k, max_clips)
    return frames[: k * clip_frames].reshape(k, clip_frames, *frames.shape[1:])


def i3d_features(detector, clips: np.ndarray, *, device: str = "cpu", batch_size: int = 4) -> np.ndarray:
    """Steps 2-3: 400-d I3D features of clips uint8 [K, 16, H, W, 3] -> float64 [K, 400]."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(clips), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(clips[i : i + batch_size])).to(device)
            x = x.permute(0, 4, 1, 2, 3).contiguous()  # [B, 3, 16, H, W], as StyleGAN-V permutes its batches
            out.append(detector(x, **DETECTOR_KWARGS).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


@dataclass
class FVD:
    """FVD metric: per video the I3D features of its generated and its real 16-frame clips; the suite compares.

    Attributes:
        weights_path: `i3d_torchscript.pt`; None resolves "i3d_fvd".
        device: torch device.
        batch_size: clips per forward pass.
        max_clips: clips per video (the first ones); None takes every non-overlapping clip.
    """

    key: ClassVar[str] = "fvd"
    outputs: ClassVar[tuple[str, ...]] = ("fvd",)
    backend: ClassVar[str] = WEIGHTS_KEY
    kind: ClassVar[str] = "distribution"

    weights_path: str | None = None
    device: str = "cpu"
    batch_size: int = 4
    max_clips: int | None = None
    _net: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._net is None:
            self._net = load_i3d(self.weights_path, self.device)

    def features(self, item: VideoItem) -> tuple[np.ndarray, np.ndarray]:
        """(generated [k, 400], real [k', 400]) I3D features of one test video's clips."""
        if item.real is None or len(item.real) == 0:
            raise MetricFailure("no_real_frames")
        # 1. 16-frame clips of both videos
        clips = [video_clips(v, CLIP_FRAMES, self.max_clips) for v in (item.generated, item.real)]
        if min(len(c) for c in clips) == 0:
            raise MetricFailure(f"too_short (< {CLIP_FRAMES} frames)")
        self.setup()
        # 2-3. StyleGAN-V's detector call -> 400-d features (step 4, the distance, is the suite's, over all videos)
        gen, real = (i3d_features(self._net, c, device=self.device, batch_size=self.batch_size) for c in clips)
        return gen, real
