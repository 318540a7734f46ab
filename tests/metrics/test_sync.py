"""Tests of Sync-C / Sync-D: the read-out against a brute-force loop, SyncNet weights in the official layout, the
offline proxy under its own name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omnihuman_pipeline.metrics import sync
from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem
from omnihuman_pipeline.metrics.suite import evaluate
from omnihuman_pipeline.scoring import lipsync

pytest.importorskip("mediapipe")


def _brute_force(video: np.ndarray, audio: np.ndarray, vshift: int) -> tuple[int, float, float]:
    """syncnet_python's evaluate read-out as loops: mean distance per shift, then offset, conf, min."""
    n = len(video)
    curve = []
    for j in range(2 * vshift + 1):
        total = 0.0
        for i in range(n):
            k = i + j - vshift
            a = audio[k] if 0 <= k < n else np.zeros(video.shape[1])
            total += np.sqrt(np.sum((video[i] - a + 1e-6) ** 2))
        curve.append(total / n)
    curve = np.array(curve)
    return vshift - int(np.argmin(curve)), float(np.median(curve) - curve.min()), float(curve.min())


@pytest.mark.parametrize("lag", [-7, 0, 4])
def test_readout_recovers_a_planted_offset(lag):
    """Audio embeddings = video embeddings moved by `lag` windows: offset = lag (positive: audio leads), and
    offset / Sync-C / Sync-D equal the brute-force loop."""
    rng = np.random.default_rng(3)
    video = rng.normal(size=(60, 8))
    audio = np.roll(video, -lag, axis=0) + rng.normal(0, 0.05, video.shape)  # audio[t - lag] = video[t]
    offset, conf, low, curve = lipsync.syncnet_readout(video, audio, vshift=15)
    b_offset, b_conf, b_low = _brute_force(video, audio, 15)
    assert offset == lag == b_offset and curve.shape == (31,)
    assert conf == pytest.approx(b_conf, rel=1e-10) and low == pytest.approx(b_low, rel=1e-10) and conf > 1.0


@pytest.fixture(scope="module")
def syncnet_file(tmp_path_factory):
    """Random SyncNet weights saved as syncnet_v2.model with syncnet_python's `__S__.` keys."""
    torch.manual_seed(0)
    net = lipsync._syncnet_module("SyncNetModel").S(num_layers_in_fc_layers=1024)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save({f"__S__.{k}": v for k, v in net.state_dict().items()}, path)
    return path


def test_syncnet_metric_is_the_curate_procedure(syncnet_file, talking_head, speech, monkeypatch):
    """Through the suite with random official-layout weights, on the real talking head: the metric runs the curate
    backend's `lipsync.run_syncnet` once and reports its conf / min / offset as Sync-C / Sync-D / sync_offset."""
    calls = []
    real_run = lipsync.run_syncnet

    def spy(net, clip, **kwargs):
        calls.append((net, clip, kwargs))
        calls.append(real_run(net, clip, **kwargs))
        return calls[-1]

    monkeypatch.setattr(lipsync, "run_syncnet", spy)
    item = VideoItem("carphone", talking_head[:36], audio=speech[: 36 * 640], sample_rate=16_000)
    rows, results = evaluate([item], {"metrics": ["sync"], "weights": {"syncnet": str(syncnet_file)}})
    (net, clip, kwargs), found = calls
    assert isinstance(net, lipsync._syncnet_module("SyncNetModel").S) and clip.frames is item.generated
    assert kwargs["vshift"] == 15 and found.error is None and found.curve.shape == (31,)
    by_name = {r.name: r for r in results}
    assert all(r.status == "ok" and r.n == 1 for r in results)
    assert (by_name["sync_c"].value, by_name["sync_d"].value) == (found.conf, found.min_dist)
    assert by_name["sync_offset"].value == found.offset and -15 <= found.offset <= 15
    assert set(rows["backend"]) == {"syncnet"} and (rows["status"] == "ok").all()


def test_failures_are_per_video(syncnet_file, talking_head):
    """No audio and a too-short video fail with the lip-sync scorer's reasons."""
    metric = sync.SyncNetSyncMetric(weights_path=str(syncnet_file))
    with pytest.raises(MetricFailure, match="no_audio"):
        metric.score_video(VideoItem("v", talking_head))
    with pytest.raises(MetricFailure, match="too_short"):
        metric.score_video(VideoItem("v", talking_head[:20], audio=np.zeros(16_000, np.float32)))


def test_mouth_envelope_is_reported_under_its_own_name(talking_head, speech):
    """The offline proxy gives sync_conf_mouth_envelope (finite, >= 0) and never a Sync-C."""
    metric = sync.MouthEnvelopeSyncMetric()
    score = metric.score_video(VideoItem("carphone", talking_head, audio=speech, sample_rate=16_000))
    assert set(score.values) == {"sync_conf_mouth_envelope", "sync_offset_mouth_envelope",
                                 "sync_conf_mouth_envelope_shifted_audio"}
    assert score.values["sync_conf_mouth_envelope"] >= 0.0 and metric.backend == "mouth_envelope"
    assert not set(metric.outputs) & set(sync.SyncNetSyncMetric.outputs)


def test_shifted_audio_control_separates_a_synced_talking_head():
    """A corpus talking head (mouth driven by its speech): its own audio scores far above the rotated audio."""
    from omnihuman_pipeline.corpus.talking import SPEECH_SR, talking_clip

    clip = talking_clip(seed=0, duration_s=4.0)
    metric = sync.MouthEnvelopeSyncMetric()
    values = metric.score_video(VideoItem("synced", clip.frames, audio=clip.audio, sample_rate=SPEECH_SR)).values
    assert abs(values["sync_offset_mouth_envelope"]) <= 1
    assert values["sync_conf_mouth_envelope"] > 2.5 > values["sync_conf_mouth_envelope_shifted_audio"]
    assert math.isnan(sync.shifted_audio_conf(np.zeros(20), np.zeros(20), 15, 1.0))  # too short to rotate
