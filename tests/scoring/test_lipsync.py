"""Tests of the lip-sync scorers: offsets on generated talking clips, SyncNet arithmetic, loaders, failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.corpus.talking import generate_talking_corpus
from omnihuman_pipeline.media.decode import FrameReader, decode_audio
from omnihuman_pipeline.scoring import lipsync
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.weights import WeightsNotFoundError

pytest.importorskip("mediapipe")


@pytest.fixture(scope="session")
def talking_clips(tmp_path_factory) -> dict[str, tuple[dict, AnalysisClip]]:
    """The talking corpus (seed 0) decoded the way curation decodes it: 25 fps frames, 16 kHz mono audio."""
    root = tmp_path_factory.mktemp("talking_lipsync")
    clips = {}
    for truth in generate_talking_corpus(root, seed=0):
        path = root / truth["relpath"]
        size = (256 * truth["n_faces"], 256)
        frames = np.stack([f.analysis for f in FrameReader(path, fps=25, analysis_size=size)])
        audio, _ = decode_audio(path, 16_000)
        clips[truth["kind"] if truth["kind"] != "synced" else truth["relpath"]] = (
            truth,
            AnalysisClip(frames, 25.0, audio, 16_000, truth["relpath"]),
        )
    return clips


@pytest.fixture(scope="session")
def envelope_scores(talking_clips):
    scorer = lipsync.MouthEnvelopeSync()
    return {key: (truth, scorer.score(clip)) for key, (truth, clip) in talking_clips.items()}


def test_envelope_recovers_known_offsets(envelope_scores):
    """Synced clips at 0, ±3, ±8 frames (and the two-person clip): offset found within ±1 frame."""
    checked = 0
    for truth, score in envelope_scores.values():
        if truth["synced"]:
            assert score.error is None
            assert abs(score.extra["offset"] - truth["offset_frames"]) <= 1, (truth["relpath"], score.extra)
            checked += 1
    assert checked == 6


def test_envelope_confidence_separates_synced_from_unsynced_and_silent(envelope_scores):
    """Synced clips score >= 3 (calibrated), far above the unsynced clip; the silent clip scores 0."""
    synced = [s.value for t, s in envelope_scores.values() if t["synced"]]
    unsynced = envelope_scores["unsynced"][1]
    silent = envelope_scores["silent"][1]
    assert min(synced) >= 3.0
    assert unsynced.value < 2.0 and min(synced) > 2 * unsynced.value
    assert silent.error is None and silent.value == 0.0 and np.isnan(silent.extra["offset"])
    assert all(s.extra["conf"] == s.value for _, s in envelope_scores.values())


def test_envelope_two_person_clip_picks_the_speaker(envelope_scores):
    """Two faces are tracked; the one moving with the audio (left) gives the confidence."""
    score = envelope_scores["two_person"][1]
    assert score.extra["n_faces"] == 2 and score.extra["face_frames"] == 1.0
    assert score.extra["track"] == 0 and score.arrays["dists"].shape == (31,)


def test_failures_are_recorded(talking_clips):
    """No audio gives "no_audio", a clip without a face "no_face", a short clip "too_short"."""
    from omnihuman_pipeline.corpus.synth import load_image, static

    truth, clip = talking_clips["talking/synced_0.mp4"]
    scorer = lipsync.MouthEnvelopeSync()
    assert scorer.score(AnalysisClip(clip.frames, 25.0, None)).error == "no_audio"
    cup = static(load_image("coffee"), len(clip.frames), 256)
    assert scorer.score(AnalysisClip(cup, 25.0, clip.audio)).error == "no_face"
    assert scorer.score(AnalysisClip(clip.frames[:20], 25.0, clip.audio)).error == "too_short"


def test_correlation_curve_equals_brute_force():
    """The 1 - r curve equals a loop over shifts and frames with np.corrcoef, NaN frames skipped."""
    rng = np.random.default_rng(0)
    video, audio = rng.normal(size=60), rng.normal(size=60)
    video[[3, 17, 40]] = np.nan
    curve = lipsync.correlation_curve(video, audio, vshift=6, min_overlap=5)
    for j in range(13):
        pairs = [
            (video[t], audio[t + j - 6]) for t in range(60) if 0 <= t + j - 6 < 60 and not np.isnan(video[t])
        ]
        v, a = np.array(pairs).T
        assert curve[j] == pytest.approx(1 - np.corrcoef(v, a)[0, 1], abs=1e-12)


def test_offset_sign_convention():
    """Audio delayed by L frames (audio lags) reads as offset -L, SyncNet's convention."""
    rng = np.random.default_rng(1)
    signal = np.convolve(rng.normal(size=120), np.ones(4), "same")
    for lag in (-8, -3, 0, 3, 8):
        audio = np.roll(signal, lag)  # audio[t] = video[t - lag]
        offset, conf, lo = lipsync.offset_and_confidence(lipsync.correlation_curve(signal, audio))
        assert offset == -lag and lo == pytest.approx(0.0, abs=0.05) and conf > 0.5


def test_syncnet_arithmetic_matches_syncnet_python():
    """Distances, offset and conf equal syncnet_python's calc_pdist + evaluate read-out and a brute-force loop."""
    ref = lipsync._syncnet_module("SyncNetInstance")
    rng = np.random.default_rng(2)
    vid, aud = rng.normal(size=(40, 16)), rng.normal(size=(40, 16))
    vshift = 15
    ours = lipsync.syncnet_distances(vid, aud, vshift)
    theirs = ref.calc_pdist(torch.from_numpy(vid), torch.from_numpy(aud), vshift=vshift)
    np.testing.assert_allclose(ours, torch.stack(theirs).numpy(), rtol=1e-10)
    mdist = torch.mean(torch.stack(theirs, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    offset, conf, lo = lipsync.offset_and_confidence(ours.mean(0), vshift)
    assert offset == vshift - int(minidx) and conf == pytest.approx(float(torch.median(mdist) - minval))
    # brute force: loop over windows and shifts, zero vectors outside the audio
    brute = np.zeros(2 * vshift + 1)
    for j in range(2 * vshift + 1):
        for i in range(40):
            k = i + j - vshift
            a = aud[k] if 0 <= k < 40 else np.zeros(16)
            brute[j] += np.sqrt(np.sum((vid[i] - a + 1e-6) ** 2)) / 40
    np.testing.assert_allclose(ours.mean(0), brute, rtol=1e-10)
    assert lo == pytest.approx(brute.min())


def test_syncnet_loader_round_trip(tmp_path, talking_clips):
    """Random SyncNet weights saved as syncnet_v2.model (`__S__.` keys) load back and score a clip."""
    torch.manual_seed(0)
    net = lipsync._syncnet_module("SyncNetModel").S(num_layers_in_fc_layers=1024)
    for m in net.modules():  # non-trivial running stats, so a wrong key mapping would show
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.9, 1.1)
    path = tmp_path / "syncnet_v2.model"
    torch.save({f"__S__.{k}": v for k, v in net.state_dict().items()}, path)
    loaded = lipsync.load_syncnet(str(path), device="cpu")
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k

    truth, clip = talking_clips["talking/synced_0.mp4"]
    short = AnalysisClip(clip.frames[:36], 25.0, clip.audio[: 36 * 640], 16_000)
    crops = lipsync.face_crops(
        short.frames, lipsync.face_tracks(lipsync.face_mesh_landmarks(short.frames, max_faces=1))[0]
    )
    mfcc = lipsync.mfcc_frames(short.audio)
    assert crops.shape == (36, 224, 224, 3) and mfcc.shape[0] == 13
    video, audio = lipsync.syncnet_embeddings(loaded, crops, mfcc)
    assert video.shape == audio.shape == (min(36, mfcc.shape[1] // 4) - 5, 1024)
    score = lipsync.SyncNetSync(weights_path=str(path), vshift=15).score(short)
    assert score.backend == "syncnet" and score.error is None and np.isfinite(score.value)
    assert -15 <= score.extra["offset"] <= 15 and score.arrays["dists"].shape == (31,)


def test_missing_syncnet_weights_name_the_file(tmp_path, monkeypatch):
    """Without weights the SyncNet backend raises WeightsNotFoundError naming syncnet_v2.model."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_SYNCNET", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="syncnet_v2.model"):
        lipsync.SyncNetSync().setup()


def test_registry_defaults_and_manifest_columns(envelope_scores):
    """The registry's defaults are mouth_envelope / silero_whisper; a sync score flattens to sync_offset, sync_conf."""
    from omnihuman_pipeline.scoring.registry import build_scorer, score_columns
    from omnihuman_pipeline.scoring.speech import SileroWhisperSpeech

    assert isinstance(build_scorer("sync"), lipsync.MouthEnvelopeSync)
    assert isinstance(build_scorer("speech"), SileroWhisperSpeech)
    assert isinstance(build_scorer("sync", "syncnet", device="cpu"), lipsync.SyncNetSync)
    row = score_columns("sync", envelope_scores["talking/audio_late_3.mp4"][1])
    assert {"sync", "sync_offset", "sync_conf", "sync_backend", "sync_error"} <= set(row)
    assert (
        row["sync_offset"] == -3
        and row["sync_conf"] == row["sync"]
        and row["sync_backend"] == "mouth_envelope"
    )


def test_faces_to_track_follows_the_face_detector(talking_clips):
    """FaceMesh tracks as many faces as the face detector sees: 1 on a one-speaker clip, 2 on the two-person
    clip (capped by max_faces), and at least 1 where it sees none."""
    one = talking_clips["talking/synced_0.mp4"][1]
    two = talking_clips["two_person"][1]
    assert lipsync.faces_to_track(one, max_faces=2) == 1
    assert lipsync.faces_to_track(two, max_faces=2) == 2 and lipsync.faces_to_track(two, max_faces=1) == 1
    blank = AnalysisClip(np.full((100, 64, 64, 3), 128, np.uint8), 25.0)
    assert lipsync.faces_to_track(blank, max_faces=2) == 1


def test_shared_tracker_forgets_the_previous_clip(talking_clips):
    """The per-process FaceMesh tracker, after another clip, gives exactly the landmarks of a new graph."""
    import mediapipe as mp

    first = talking_clips["two_person"][1].frames[:40]
    clip = talking_clips["talking/synced_0.mp4"][1].frames[:60]
    h, w = clip.shape[1:3]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.5, min_tracking_confidence=0.5) as mesh:
        fresh = [[np.array([[p.x * w, p.y * h] for p in f.landmark]) for f in mesh.process(frame).multi_face_landmarks
                  or []] for frame in clip]
    lipsync.face_mesh_landmarks(first, max_faces=1)  # the shared tracker now follows a face of another clip
    again = lipsync.face_mesh_landmarks(clip, max_faces=1)
    assert sum(len(f) for f in fresh) == len(clip)
    assert all(len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
               for a, b in zip(fresh, again, strict=True))
