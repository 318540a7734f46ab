"""Tests of the talking-clip generator: files, ground truth, audio shifts, mouth motion, camera motion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnihuman_pipeline.corpus import talking
from omnihuman_pipeline.scoring.base import AnalysisClip


@pytest.fixture(scope="session")
def talking_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("talking_corpus")
    return root, talking.generate_talking_corpus(root, seed=0)


def test_files_and_truth(talking_corpus):
    """Eight mp4 files with 25 fps video and audio, and a truth file equal to the returned list."""
    import av

    root, truths = talking_corpus
    assert json.loads((root / "talking" / talking.TRUTH_FILE).read_text()) == truths
    assert len(truths) == 8
    kinds = [t["kind"] for t in truths]
    assert kinds.count("synced") == 5 and {"unsynced", "silent", "two_person"} <= set(kinds)
    assert sorted(t["offset_frames"] for t in truths if t["kind"] == "synced") == [-8, -3, 0, 3, 8]
    for t in truths:
        with av.open(str(root / t["relpath"])) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert float(v.average_rate) == 25.0 and v.height == 256
            assert v.width == 256 * t["n_faces"] and a.codec_context.name == "aac"
        assert t["duration_s"] == pytest.approx(4.0) and t["speech"] == (t["kind"] != "silent")
        assert t["synced"] == (t["kind"] in ("synced", "two_person"))


def test_audio_delay_is_an_exact_sample_shift():
    """Audio delayed by d frames is the undelayed audio moved by d x 640 samples; the mouth is unchanged."""
    base = talking.talking_clip(seed=3, duration_s=2.0)
    late = talking.talking_clip(seed=3, duration_s=2.0, audio_delay_frames=3)
    early = talking.talking_clip(seed=3, duration_s=2.0, audio_delay_frames=-2)
    np.testing.assert_array_equal(late.audio[3 * 640 :], base.audio[: -3 * 640])
    np.testing.assert_array_equal(early.audio[: -2 * 640], base.audio[2 * 640 :])
    np.testing.assert_array_equal(late.frames, base.frames)


def test_same_seed_same_clip():
    """A clip is a pure function of its seed."""
    a, b = talking.talking_clip(seed=5, duration_s=1.0), talking.talking_clip(seed=5, duration_s=1.0)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)


def test_facemesh_mouth_follows_the_drive():
    """FaceMesh's inner-lip distance on the warped real face tracks the mouth drive (r > 0.9)."""
    pytest.importorskip("mediapipe")
    from omnihuman_pipeline.scoring.lipsync import face_mesh_landmarks, face_tracks, mouth_opening

    clip = talking.talking_clip(seed=0, duration_s=3.0)
    mouth = mouth_opening(face_tracks(face_mesh_landmarks(clip.frames, max_faces=1))[0])
    assert np.corrcoef(mouth, clip.openings)[0, 1] > 0.9
    assert np.nanmax(mouth) > 2 * np.nanmin(mouth)


@pytest.mark.parametrize("backend", ["dis", "farneback"])
def test_camera_moves_enough_for_the_motion_filter(backend):
    """The slow camera drift gives motion of at least 0.2 px/frame at 256 px (the T filter's minimum: 0.15)."""
    from omnihuman_pipeline.scoring.motion import MOTION_BACKENDS

    clip = talking.talking_clip(seed=0, duration_s=2.0, silent=True)
    motion = MOTION_BACKENDS[backend]().score(AnalysisClip(clip.frames, 25.0))
    assert motion.error is None and motion.value >= 0.2


def test_extra_synced_clips_and_held_out_drives(tmp_path):
    """n_extra adds synced clips with their own voice and length; held-out drives are new voices plus a silence."""
    import json

    import numpy as np
    from scipy.io import wavfile

    from omnihuman_pipeline.corpus.talking import (
        HELDOUT_VOICES,
        TRAIN_VOICES,
        generate_talking_corpus,
        heldout_speech,
        write_heldout_speech,
    )

    truths = generate_talking_corpus(tmp_path, n_extra=2, duration_s=1.0)
    extra = [t for t in truths if "/extra/" in t["relpath"]]
    assert [t["relpath"] for t in extra] == ["talking/extra/talk_000.mp4", "talking/extra/talk_001.mp4"]
    assert all(t["synced"] and t["offset_frames"] == 0 for t in extra)
    assert [t["n_frames"] for t in extra] == [100, 125]  # 4 s and 5 s
    assert json.loads((tmp_path / "talking" / "talking_truth.json").read_text()) == truths
    rel = write_heldout_speech(tmp_path, 2, duration_s=1.0)
    assert rel == ["talking/heldout/speech_0.wav", "talking/heldout/speech_1.wav", "talking/heldout/silence.wav"]
    sr, speech = wavfile.read(tmp_path / rel[0])
    _, silence = wavfile.read(tmp_path / rel[2])
    assert sr == 16_000 and len(speech) == 16_000 and np.abs(speech).max() > 100 * np.abs(silence).max()
    assert not {f for f, _ in HELDOUT_VOICES} & set(TRAIN_VOICES)
    audio, opening = heldout_speech(0, duration_s=1.0)
    assert len(opening) == 25 and opening.max() > 0.5 and len(audio) == 16_000
