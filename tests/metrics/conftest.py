"""Shared fixtures of the metric tests: a real talking head with speech-like audio, a person raising a hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.scoring.test_pose import dwpose_models  # noqa: F401  (the DWPose ONNX stand-ins, official I/O names)

FPS = 25.0
AUDIO_SR = 16_000


@pytest.fixture(scope="session")
def talking_head() -> np.ndarray:
    """The real carphone talking head (first 2 s at 25 fps), upscaled to a 256-px short side: [50, 256, 312, 3]."""
    from omnihuman_pipeline.corpus.synth import load_carphone

    frames = load_carphone(n_frames=50)
    h, w = frames.shape[1:3]
    size = (round(w * 256 / h), 256)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames])


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """2 s of speech-like audio at 16 kHz (float32 mono)."""
    from omnihuman_pipeline.corpus.synth import speech_like_audio

    return speech_like_audio(2.0, AUDIO_SR, seed=0)


@pytest.fixture(scope="session")
def raised_hand() -> np.ndarray:
    """The astronaut photo with a drawn hand raised in the corner, swaying 0 to -5 px: [10, 256, 256, 3]."""
    import skimage.data

    from omnihuman_pipeline.corpus.synth import with_hand
    from omnihuman_pipeline.scoring._frames import resize_short_side

    frame = resize_short_side(skimage.data.astronaut(), 256)
    return with_hand(np.stack([frame] * 50))[25:35]  # the half period moving left, off the frame edge


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weights configured anywhere: no OMNIHUMAN_WEIGHTS_* variable, an absent weights file."""
    import os

    for name in list(os.environ):
        if name.startswith("OMNIHUMAN_WEIGHTS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "no_weights.yml"))
