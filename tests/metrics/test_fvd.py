"""Tests of FVD: 16-frame clips, StyleGAN-V's detector call, and the torchscript loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnihuman_pipeline.metrics import fvd
from omnihuman_pipeline.weights import WeightsNotFoundError


class TinyI3D(torch.nn.Module):
    """The I3D torchscript's call signature: uint8 [B, 3, 16, H, W] in, 400 logits (features) or probabilities out."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 16, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if rescale:
            if x.dtype != torch.uint8:
                raise RuntimeError("rescale expects uint8 frames")
            x = x.float() / 127.5 - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 8, 8), mode="trilinear", align_corners=False)
        logits = self.proj(x.mean(dim=(3, 4)).flatten(1))
        return logits if return_features else torch.softmax(logits, dim=-1)


@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory):
    """A scripted TinyI3D saved with torch.jit.save as i3d_torchscript.pt."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(TinyI3D().eval()), str(path))
    return path


def test_clips_are_non_overlapping_16_frame_windows():
    """35 frames give clips at frames 0-15 and 16-31; max_clips keeps the first; 15 frames give none."""
    frames = np.arange(35, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 3), np.uint8)
    clips = fvd.video_clips(frames)
    assert clips.shape == (2, 16, 2, 3, 3) and clips[0, 0, 0, 0, 0] == 0 and clips[1, 0, 0, 0, 0] == 16
    assert len(fvd.video_clips(frames, max_clips=1)) == 1 and len(fvd.video_clips(frames[:15])) == 0


def test_loader_and_call_follow_stylegan_v(i3d_file):
    """The saved torchscript loads back; features are its output for uint8 [B, 3, 16, H, W] with rescale, resize
    and return_features set (400-d logits, not the softmax)."""
    detector = fvd.load_i3d(str(i3d_file))
    clips = np.random.default_rng(0).integers(0, 256, (3, 16, 12, 10, 3), dtype=np.uint8)
    feats = fvd.i3d_features(detector, clips, batch_size=2)
    x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3)
    with torch.inference_mode():
        expected = detector(x, rescale=True, resize=True, return_features=True).double().numpy()
        probs = detector(x, rescale=True, resize=True).numpy()
    assert feats.shape == (3, fvd.FEATURE_DIM) and feats.dtype == np.float64
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(feats.sum(-1), 1.0) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert fvd.DETECTOR_KWARGS == {"rescale": True, "resize": True, "return_features": True}


def test_metric_features_and_failures(i3d_file):
    """FVD.features: one feature per 16-frame clip of each video; no real video or a short one fails."""
    from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem

    metric = fvd.FVD(weights_path=str(i3d_file))
    rng = np.random.default_rng(1)
    gen, real = (rng.integers(0, 256, (t, 8, 8, 3), dtype=np.uint8) for t in (40, 33))
    g, r = metric.features(VideoItem("v", gen, real))
    assert g.shape == (2, 400) and r.shape == (2, 400)
    with pytest.raises(MetricFailure, match="no_real_frames"):
        metric.features(VideoItem("v", gen))
    with pytest.raises(MetricFailure, match="too_short"):
        metric.features(VideoItem("v", gen[:10], real))


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    """Without weights the loader raises WeightsNotFoundError naming i3d_torchscript.pt."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_I3D_FVD", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="i3d_torchscript.pt"):
        fvd.load_i3d()
