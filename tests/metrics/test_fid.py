"""Tests of FID: the TF1 resize and normalisation, the Inception architecture and its loader in the official layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.metrics import fid
from omnihuman_pipeline.metrics.fid_inception import FIDInceptionV3
from omnihuman_pipeline.weights import WeightsNotFoundError


def _tf1_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 ResizeBilinear (align_corners=False, no half-pixel) written as a plain loop over output pixels."""
    in_h, in_w = img.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = i * in_h / out_h
        y0, y1 = int(np.floor(y)), min(int(np.floor(y)) + 1, in_h - 1)
        for j in range(out_w):
            x = j * in_w / out_w
            x0, x1 = int(np.floor(x)), min(int(np.floor(x)) + 1, in_w - 1)
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * (x - x0)
            bottom = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * (x - x0)
            out[i, j] = top + (bottom - top) * (y - y0)
    return out


def test_tf1_resize_by_hand():
    """2x2 -> 4x4: samples at 0, 0.5, 1, 1.5 (the last clamps to the edge), unlike half-pixel resizing."""
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    out = fid.tf1_resize_bilinear(x, (4, 4))[0, 0].numpy()
    expected = [[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]]
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("shape, size", [((5, 7), (3, 4)), ((3, 4), (7, 9)), ((6, 5), (299, 299))])
def test_tf1_resize_matches_loop(shape, size):
    """Down- and up-sampling to any size equal the loop reference."""
    img = np.random.default_rng(0).uniform(0, 255, shape)
    out = fid.tf1_resize_bilinear(torch.from_numpy(img)[None, None], size)[0, 0].numpy()
    np.testing.assert_allclose(out, _tf1_reference(img, *size), rtol=1e-10, atol=1e-9)


def test_inception_input_range():
    """uint8 0 / 128 / 255 map to -1 / 0 / 127/128 at 299x299, channels first."""
    frames = np.stack([np.full((10, 12, 3), v, np.uint8) for v in (0, 128, 255)])
    x = fid.inception_input(frames)
    assert x.shape == (3, 3, 299, 299) and x.dtype == torch.float32
    np.testing.assert_allclose([float(x[i].mean()) for i in range(3)], [-1.0, 0.0, 127 / 128])


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """FIDInceptionV3 with random weights and batch-norm statistics, as a state dict in the published layout."""
    torch.manual_seed(seed)
    net = FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):  # variance-preserving, so that the features depend on the input
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    # the converted TF file holds conv weights, bn weight/bias/running_mean/running_var and fc; no batch counters
    return {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def test_state_dict_layout_is_the_published_one():
    """94 conv+bn layers (the graph's 94 conv2d_params) x 5 tensors + fc: 472 keys, torchvision's names and shapes."""
    state = _random_state()
    assert len(state) == 94 * 5 + 2
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["fc.weight"].shape == (1008, 2048) and state["fc.bias"].shape == (1008,)
    assert sum(v.numel() for k, v in state.items() if "running" not in k) == 23_850_960


def test_loader_round_trip(tmp_path):
    """Random weights saved as pt_inception-2015-12-05-6726825d.pth load strictly and give the in-memory outputs."""
    state = _random_state()
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    net = FIDInceptionV3()
    net.load_state_dict(state, strict=False)
    net.eval()
    loaded = fid.load_fid_inception(str(path))
    frames = np.random.default_rng(1).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    feats = fid.inception_features(loaded, frames, batch_size=1)
    with torch.inference_mode():
        expected = net(fid.inception_input(frames)).double().numpy()
    assert feats.shape == (2, 2048) and feats.dtype == np.float64 and np.isfinite(feats).all()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(feats[0], feats[1])


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    """Without weights the loader raises WeightsNotFoundError naming the FID Inception file."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_INCEPTION_FID", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="pt_inception-2015-12-05-6726825d.pth"):
        fid.load_fid_inception()
