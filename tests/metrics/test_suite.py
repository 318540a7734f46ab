"""Tests of the evaluation suite: unavailable real metrics without weights, the offline defaults on real clips,
the reference-image row, set-level bootstrap over videos, configuration errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnihuman_pipeline.metrics import suite
from omnihuman_pipeline.metrics.base import VideoItem, bootstrap_indices

REAL_METRICS = ["fid", "fvd", "sync", "hands", "akd", "qalign"]
OFFLINE_NAMES = {"brisque", "sync_conf_mouth_envelope", "sync_offset_mouth_envelope",
                 "sync_conf_mouth_envelope_shifted_audio", "hkc_mediapipe",
                 "hkv_mediapipe", "akd_mediapipe"}


def test_without_weights_real_metrics_are_unavailable(no_weights):
    """Every real metric is 'unavailable' for the set and for each video, its reason naming the missing file."""
    frames = np.zeros((20, 32, 32, 3), np.uint8)
    items = [VideoItem("a", frames, frames, np.zeros(12_800, np.float32)), VideoItem("b", frames, frames)]
    rows, results = suite.evaluate(items, {"metrics": REAL_METRICS})
    assert [r.name for r in results] == ["fid", "fvd", "sync_c", "sync_d", "sync_offset", "hkc", "hkv", "akd",
                                         "iqa", "ase"]
    assert all(r.status == "unavailable" and math.isnan(r.value) and r.n == 0 for r in results)
    reasons = {r.name: r.reason for r in results}
    for name, file in [("fid", "pt_inception-2015-12-05-6726825d.pth"), ("fvd", "i3d_torchscript.pt"),
                       ("sync_c", "syncnet_v2.model"), ("hkc", "yolox_l.onnx"), ("akd", "yolox_l.onnx"),
                       ("iqa", "one-align")]:
        assert file in reasons[name]
    assert len(rows) == 2 * 10 and set(rows["status"]) == {"unavailable"} and rows["value"].isna().all()
    assert list(rows.columns) == suite.ROW_COLUMNS


def test_offline_defaults_on_real_clips(no_weights, talking_head, speech, raised_hand):
    """A real talking head with speech and the astronaut raising a hand, each against itself as the real video: the
    defaults report under their own names; expected failures are per video (no audio, no hands)."""
    pytest.importorskip("mediapipe")
    items = [VideoItem("carphone", talking_head, talking_head, speech, 16_000),
             VideoItem("hand", raised_hand, raised_hand)]
    config = {"metrics": ["brisque", "sync_mouth_envelope", "hands_mediapipe", "akd_mediapipe"],
              "options": {"akd_mediapipe": {"sample_fps": 5.0}}, "bootstrap": {"n": 200}}
    rows, results = suite.evaluate(items, config)
    by = {r.name: r for r in results}
    assert set(by) == OFFLINE_NAMES and all(r.status == "ok" for r in results)
    assert by["brisque"].n == 2 and by["brisque"].ci_low <= by["brisque"].value <= by["brisque"].ci_high
    assert by["sync_conf_mouth_envelope"].n == 1 and by["sync_conf_mouth_envelope"].backend == "mouth_envelope"
    assert by["hkc_mediapipe"].n == 1 and 0 < by["hkc_mediapipe"].value <= 1 and by["hkv_mediapipe"].value > 0
    assert by["akd_mediapipe"].n == 2 and by["akd_mediapipe"].value == pytest.approx(0.0, abs=1e-6)
    failed = rows[rows["status"] == "failed"].set_index(["video_id", "metric"])["reason"].to_dict()
    assert failed == {("hand", "sync_conf_mouth_envelope"): "no_audio", ("hand", "sync_offset_mouth_envelope"):
                      "no_audio", ("hand", "sync_conf_mouth_envelope_shifted_audio"): "no_audio", ("carphone", "hkc_mediapipe"): "no_hands", ("carphone", "hkv_mediapipe"): "no_hands"}
    assert set(rows["backend"]) == {"brisque", "mouth_envelope", "mediapipe"}


def test_reference_images_row(no_weights):
    """Reference images alone: BRISQUE of the astronaut photo (10.80, the package's own value) and IQA / ASE
    unavailable without q-align weights; video-only metrics are left out."""
    import skimage.data

    rows, results = suite.evaluate_reference_images({"astronaut": skimage.data.astronaut()})
    by = {r.name: r for r in results}
    assert set(by) == {"iqa", "ase", "brisque"}
    assert by["brisque"].value == pytest.approx(10.796, abs=0.01) and by["brisque"].n == 1
    assert by["iqa"].status == by["ase"].status == "unavailable" and math.isnan(by["brisque"].ci_low)


def test_distribution_metric_bootstraps_videos(tmp_path):
    """FVD over 4 videos (tiny torchscript): the value is the Fréchet distance of all clips' features, and the
    interval comes from resampling whole videos (generated and real features together)."""
    import torch

    from omnihuman_pipeline.metrics import fvd
    from omnihuman_pipeline.metrics.frechet import frechet_from_features
    from tests.metrics.test_fvd import TinyI3D

    torch.manual_seed(0)
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(TinyI3D().eval()), str(path))
    rng = np.random.default_rng(0)
    items = [VideoItem(f"v{i}", rng.integers(0, 256, (32, 8, 8, 3), dtype=np.uint8),
                       rng.integers(0, 200, (32, 8, 8, 3), dtype=np.uint8)) for i in range(4)]
    config = {"metrics": ["fvd"], "weights": {"i3d_fvd": str(path)}, "bootstrap": {"n_frechet": 8, "seed": 3}}
    rows, (result,) = suite.evaluate(items, config)
    metric = fvd.FVD(weights_path=str(path))
    feats = [metric.features(item) for item in items]
    expected = frechet_from_features(np.concatenate([g for g, _ in feats]), np.concatenate([r for _, r in feats]),
                                     fast=True)  # equal to the sqrtm form to ~1e-7
    draws = [frechet_from_features(np.concatenate([feats[i][0] for i in idx]), np.concatenate([feats[i][1] for i in idx]),
                                   fast=True) for idx in bootstrap_indices(4, 8, 3)]
    assert result.status == "ok" and result.n == 4 and result.value == pytest.approx(expected, rel=1e-6)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert (rows["n"] == 2).all() and rows["value"].isna().all()


def test_unexpected_errors_are_recorded_per_video(monkeypatch):
    """An exception on one video becomes a failed row with its type and message; the other videos still count."""
    from omnihuman_pipeline.metrics.brisque import BrisqueMetric

    real = BrisqueMetric.score_video

    def flaky(self, item):
        if item.video_id == "bad":
            raise RuntimeError("decoder exploded")
        return real(self, item)

    monkeypatch.setattr(BrisqueMetric, "score_video", flaky)
    frame = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    rows, (result,) = suite.evaluate([VideoItem("bad", frame), VideoItem("good", frame)], {"metrics": ["brisque"]})
    assert result.status == "ok" and result.n == 1
    assert rows.set_index("video_id").loc["bad", "reason"] == "RuntimeError: decoder exploded"


def test_build_metric_configuration():
    """Weights and device reach the metric, options override; an unknown metric or option is a configuration error."""
    metric = suite.build_metric("fid", {"weights": {"inception_fid": "/w.pth"}, "device": "cuda",
                                        "options": {"fid": {"max_frames": 8}}})
    assert (metric.weights_path, metric.device, metric.max_frames) == ("/w.pth", "cuda", 8)
    assert suite.build_metric("hands", {"weights": {"dwpose_det": "d", "dwpose_pose": "p"}}).pose_path == "p"
    with pytest.raises(ValueError, match="unknown metric"):
        suite.build_metric("clip_score")
    with pytest.raises(ValueError, match="no option"):
        suite.build_metric("brisque", {"options": {"brisque": {"device": "cuda"}}})
    assert set(suite.METRICS) == {"fid", "fvd", "sync", "sync_mouth_envelope", "hands", "hands_mediapipe", "akd",
                                  "akd_mediapipe", "qalign", "brisque", "identity_face"}
