"""FID (Heusel et al. 2017; paper §4.1): Fréchet distance between Inception pool3 features of generated and real frames.

Procedure, as the original TensorFlow FID (TTUR) runs the 2015-12-05 Inception graph:

1. frames uint8 RGB [N, H, W, 3] -> float, resized to 299x299 with TF1's bilinear resize (`ResizeBilinear`,
   `align_corners=False`: source coordinate = output index x in/out, no half-pixel offset; torch-fidelity, which
   torchmetrics' FID uses, reproduces it the same way);
2. normalised to [-1, 1] as the graph does: (x - 128) / 128;
3. 2048-d pool3 features of `FIDInceptionV3` with the `pt_inception-2015-12-05-6726825d.pth` weights (the TF graph's
   weights in torchvision's key layout; weights key `inception_fid`);
4. Fréchet distance between Gaussians fitted to the generated and to the real features of the test set (`frechet`).

pytorch-fid uses the same weights but PyTorch's half-pixel bilinear resize and 2x - 1 on [0, 1] inputs; its values
differ from TF's in the second decimal. Frames of every video enter; `max_frames` spreads a cap over each video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem

logger = logging.getLogger(__name__)

INPUT_SIZE = 299
PIXEL_CENTER, PIXEL_SCALE = 128.0, 128.0  # the TF graph's Sub / Mul before the first convolution
FEATURE_DIM = 2048
WEIGHTS_KEY = "inception_fid"


def tf1_resize_bilinear(x, size: tuple[int, int]):
    """TF1 `resize_bilinear(align_corners=False)`: out[i] samples in[i * in/out] (no half-pixel offset).

    Args:
        x: float tensor [N, C, H, W].
        size: (height, width) of the output.

    Returns:
        float tensor [N, C, *size], same dtype.
    """
    import torch

    def axis(n_in: int, n_out: int):
        src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo.to(x.device), hi.to(x.device), (src - lo).to(x.dtype).to(x.device)

    y0, y1, fy = axis(x.shape[2], size[0])
    x0, x1, fx = axis(x.shape[3], size[1])
    # along x first, then y: TF's top/bottom lerp order
    top = x[:, :, y0][..., x0] + (x[:, :, y0][..., x1] - x[:, :, y0][..., x0]) * fx
    bottom = x[:, :, y1][..., x0] + (x[:, :, y1][..., x1] - x[:, :, y1][..., x0]) * fx
    return top + (bottom - top) * fy[:, None]


def inception_input(frames: np.ndarray, device: str = "cpu"):
    """Steps 1-2: uint8 RGB [N, H, W, 3] -> float32 [N, 3, 299, 299] in [-1, 1] on `device`."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    x = tf1_resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE))
    return (x - PIXEL_CENTER) / PIXEL_SCALE


def load_fid_inception(path: str | None = None, device: str = "cpu"):
    """`FIDInceptionV3` with the FID weights (`pt_inception-2015-12-05-6726825d.pth`, a plain state dict).

    Args:
        path: the weights file; None resolves key "inception_fid" (conf/local/weights.yml or the environment).
        device: torch device.

    Returns:
        The network in eval mode on `device`.

    Raises:
        WeightsNotFoundError: no file; the message names it, the setting and where it is published.
    """
    import torch

    from omnihuman_pipeline import weights
    from omnihuman_pipeline.metrics.fid_inception import FIDInceptionV3

    file = weights.resolve(WEIGHTS_KEY, path)
    net = FIDInceptionV3()
    # the converted TF weights carry no `num_batches_tracked`; BatchNorm fills it in for a plain dict
    net.load_state_dict(torch.load(file, map_location="cpu", weights_only=True), strict=True)
    return net.to(device).eval().requires_grad_(False)


def inception_features(net, frames: np.ndarray, *, device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    """Step 3: pool3 features of uint8 RGB frames [N, H, W, 3] -> float64 [N, 2048]."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch_size):
            out.append(net(inception_input(frames[i : i + batch_size], device)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def _frames(video: np.ndarray, max_frames: int | None) -> np.ndarray:
    from omnihuman_pipeline.scoring._frames import spread_indices

    return video if max_frames is None else video[spread_indices(len(video), max_frames)]


@dataclass
class FID:
    """FID metric: per video the pool3 features of its generated and its real frames; the suite fits and compares.

    Attributes:
        weights_path: `pt_inception-2015-12-05-6726825d.pth`; None resolves "inception_fid".
        device: torch device.
        batch_size: frames per forward pass.
        max_frames: frames per video (spread over it); None takes every frame.
    """

    key: ClassVar[str] = "fid"
    outputs: ClassVar[tuple[str, ...]] = ("fid",)
    backend: ClassVar[str] = WEIGHTS_KEY
    kind: ClassVar[str] = "distribution"

    weights_path: str | None = None
    device: str = "cpu"
    batch_size: int = 32
    max_frames: int | None = None
    _net: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._net is None:
            self._net = load_fid_inception(self.weights_path, self.device)

    def features(self, item: VideoItem) -> tuple[np.ndarray, np.ndarray]:
        """(generated [n, 2048], real [m, 2048]) pool3 features of one test video."""
        if item.real is None or len(item.real) == 0:
            raise MetricFailure("no_real_frames")
        if len(item.generated) == 0:
            raise MetricFailure("no_generated_frames")
        self.setup()
        # steps 1-3 on both videos; step 4, the distance, is the suite's, over all videos of the test set
        feats = [inception_features(self._net, _frames(v, self.max_frames), device=self.device,
                                    batch_size=self.batch_size) for v in (item.generated, item.real)]  # fmt: skip
        return feats[0], feats[1]
