"""Fixture clips for the scorer tests: virtual camera paths over a real photo, and a real talking-head video."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from omnihuman_pipeline.scoring.base import AnalysisClip

FPS = 25.0
SIZE = 256


def camera_path(image: np.ndarray, offsets: np.ndarray, zooms: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Frames [T, size, size, 3] seen by a virtual camera over `image`: per-frame (dx, dy) px and zoom factor."""
    h, w = image.shape[:2]
    frames = []
    for (dx, dy), z in zip(offsets, zooms, strict=True):
        # output pixel (u, v) samples the source at centre + ((u, v) - size/2) / z + offset
        s = 1.0 / z
        m = np.array([[s, 0, w / 2 + dx - s * size / 2], [0, s, h / 2 + dy - s * size / 2]], dtype=np.float64)
        frames.append(
            cv2.warpAffine(
                image,
                m,
                (size, size),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
        )
    return np.stack(frames)


def _clip(frames: np.ndarray, clip_id: str) -> AnalysisClip:
    return AnalysisClip(frames=frames, fps=FPS, clip_id=clip_id)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def static_clip(astronaut) -> AnalysisClip:
    """50 frames of one view with Gaussian sensor noise (sigma 2 levels) only."""
    n = 50
    frames = camera_path(astronaut, np.zeros((n, 2)), np.ones(n)).astype(np.float64)
    frames += np.random.default_rng(0).normal(0, 2.0, frames.shape)
    return _clip(np.clip(frames, 0, 255).astype(np.uint8), "static")


@pytest.fixture(scope="session")
def pan_clip(astronaut) -> AnalysisClip:
    """A smooth diagonal pan at 2.06 px/frame: ordinary camera motion."""
    n = 50
    t = np.arange(n)[:, None]
    return _clip(camera_path(astronaut, np.hstack([2.0 * t - 50, 0.5 * t - 12]), np.ones(n)), "pan")


@pytest.fixture(scope="session")
def fast_pan_clip(astronaut) -> AnalysisClip:
    """A fast smooth pan at 8 px/frame: large motion, no shake."""
    n = 40
    t = np.arange(n)[:, None]
    return _clip(camera_path(astronaut, np.hstack([8.0 * t - 160, np.zeros_like(t)]), np.ones(n)), "fast_pan")


@pytest.fixture(scope="session")
def zoom_clip(astronaut) -> AnalysisClip:
    """A smooth zoom-in from 1.0x to 1.4x about the centre."""
    n = 50
    return _clip(camera_path(astronaut, np.zeros((n, 2)), np.linspace(1.0, 1.4, n)), "zoom")


@pytest.fixture(scope="session")
def shaky_clip(astronaut) -> AnalysisClip:
    """Hand-held shake: the camera position jumps randomly (sigma 6 px) every frame."""
    n = 50
    offsets = np.random.default_rng(1).normal(0, 6.0, (n, 2))
    return _clip(camera_path(astronaut, offsets, np.ones(n)), "shaky")


@pytest.fixture(scope="session")
def carphone_clip() -> AnalysisClip:
    """The real `carphone_pristine.mp4` (a man talking in a car, 176x144) at 25 fps, upscaled to a 256-px short side."""
    from omnihuman_pipeline.corpus.synth import load_carphone

    frames = load_carphone()
    h, w = frames.shape[1:3]
    size = (round(w * SIZE / h), SIZE)
    return _clip(np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]), "carphone")


@pytest.fixture
def graph_calls(monkeypatch) -> list[str]:
    """The kind of every `process` call on the shared MediaPipe graphs (`_mediapipe.solution`), in order."""
    from omnihuman_pipeline.scoring import _mediapipe

    calls: list[str] = []
    real = _mediapipe.solution

    def counting(kind, **options):
        graph = real(kind, **options)

        class Spy:
            def process(self, frame):
                calls.append(kind)
                return graph.process(frame)

        return Spy()

    monkeypatch.setattr(_mediapipe, "solution", counting)
    return calls
