"""Tests of the MediaPipe person scorer on real photos and a real video."""

import numpy as np
import pytest
import skimage.data

from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.person import FramePerson, MediaPipePerson, summarise


def _clip(frames):
    return AnalysisClip(frames=frames, fps=25.0)


@pytest.fixture(scope="module")
def scorer():
    pytest.importorskip("mediapipe")
    s = MediaPipePerson(n_frames=3)
    s.setup()
    yield s
    s.close()


def _still(image: np.ndarray):
    return _clip(np.stack([image] * 3))


def test_astronaut_is_a_person(scorer, astronaut):
    """The astronaut portrait: a person in every frame, one face covering a few % of the frame."""
    score = scorer.score(_still(astronaut))
    assert score.backend == "mediapipe" and score.value == 1.0
    assert score.extra["face_count"] == 1 and 0.01 < score.extra["face_area"] < 0.2


def test_carphone_video_is_a_person(scorer, carphone_clip):
    """Frames of the real carphone video (a man talking in a car) show a person with a large face."""
    score = scorer.score(carphone_clip)
    assert score.value == 1.0 and score.extra["face_count"] == 1 and score.extra["face_area"] > 0.05


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_person_in_coffee_or_cat(scorer, name):
    """A coffee cup and a cat are not people: no face, no pose."""
    score = scorer.score(_still(getattr(skimage.data, name)()))
    assert score.value == 0.0 and score.extra["face_count"] == 0 and score.extra["face_area"] == 0.0


def test_summary_counts_pose_only_frames():
    """A frame with a visible pose but no face counts as a person; a faint pose does not."""
    frames = [FramePerson(2, 0.1, np.nan), FramePerson(0, 0.0, 0.9), FramePerson(0, 0.0, 0.2)]
    score = summarise(frames, min_pose_visibility=0.5)
    assert score.value == pytest.approx(2 / 3)
    assert score.extra["face_count"] == 2 and score.extra["face_share"] == pytest.approx(1 / 3)


def test_empty_clip_is_too_short(scorer):
    """No frames give 'too_short'."""
    assert scorer.score(_clip(np.zeros((0, 8, 8, 3), np.uint8))).error == "too_short"
