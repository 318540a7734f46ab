"""Unit tests for corpus.synth and corpus.encode (no corpus fixture)."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.corpus import encode, synth
from tests.corpus.corpus_helpers import circular_hue_change

HW = (128, 160)


def _mean_flow(frames: np.ndarray) -> float:
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    mags = [
        np.linalg.norm(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0), axis=2).mean()
        for a, b in zip(grey[:-1], grey[1:], strict=True)
    ]
    return float(np.mean(mags))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "lfw"])
def test_load_image_returns_rgb_uint8(name):
    """Every named real image loads as writable uint8 RGB."""
    img = synth.load_image(name)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.flags.writeable


def test_load_carphone_resamples_to_25_fps():
    """The carphone clip (29.97 fps, 4 s) gives 100 frames of 176x144 at 25 fps."""
    frames = synth.load_carphone()
    assert frames.shape == (100, 144, 176, 3) and frames.dtype == np.uint8


def test_ken_burns_motion_is_moderate():
    """A default ken-burns pan measures 0.5-3 px/frame of optical flow at a 256 px short side."""
    frames = synth.ken_burns(synth.load_image("astronaut"), 12, (256, 320))
    assert frames.shape == (12, 256, 320, 3)
    assert 0.5 <= _mean_flow(frames) <= 3.0


def test_static_frames_are_identical_without_noise():
    """static() repeats one frame exactly, and its noise option stays under one level on average."""
    img = synth.load_image("astronaut")
    frames = synth.static(img, 5, HW)
    assert all(np.array_equal(frames[0], f) for f in frames)
    noisy = synth.static(img, 5, HW, noise_std=0.6, seed=1)
    assert 0 < np.abs(noisy.astype(int) - frames.astype(int)).mean() < 1.0


def test_shaky_motion_is_large():
    """shaky() with 18 px amplitude moves far more per frame than a ken-burns pan."""
    frames = synth.shaky(synth.load_image("astronaut"), 10, (256, 320), 18.0, seed=0)
    assert _mean_flow(frames) > 6.0


def test_hue_rotate_keeps_luma_and_changes_hue():
    """A 120 degree hue rotation leaves BT.601 luma within one level while hue moves > 60 degrees."""
    img = synth.resize_cover(synth.load_image("coffee"), HW)[None]
    rotated = synth.hue_rotate(img, 120.0)
    assert np.abs(synth.luma(rotated) - synth.luma(img)).mean() < 1.0
    assert circular_hue_change(img, rotated) > 60.0


def test_speech_like_audio_has_syllables_and_pauses():
    """Speech-like audio is float32 in [-1, 1] with both voiced and silent stretches."""
    audio = synth.speech_like_audio(3.0, 16_000, seed=0)
    assert audio.shape == (48_000,) and audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    frame_rms = np.sqrt((audio[: 47_840].reshape(-1, 160) ** 2).mean(axis=1))  # 10 ms frames
    voiced = frame_rms > 0.02
    assert 0.3 < voiced.mean() < 0.95
    assert synth.speech_like_audio(1.0, 48_000, channels=2).shape == (48_000, 2)


def test_rotation_helpers_round_trip():
    """coded_from_display and display_from_coded are inverse and swap width and height for +-90."""
    frames = np.random.default_rng(0).integers(0, 255, (2, 6, 4, 3), dtype=np.uint8)
    coded = encode.coded_from_display(frames, -90)
    assert coded.shape == (2, 4, 6, 3)
    assert np.array_equal(encode.display_from_coded(coded, -90), frames)


def test_write_video_rejects_bad_vfr_timestamps(tmp_path):
    """Non-increasing VFR timestamps are refused before anything is encoded."""
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="strictly increasing"):
        encode.write_video(tmp_path / "x.mp4", frames, timestamps_s=[0.0, 0.04, 0.04])
