"""Tests of the MediaPipe face scorer on real photos and a real video."""

import numpy as np
import pytest
import skimage.data

from omnihuman_pipeline.scoring._frames import resize_short_side
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.face import FaceBox, MediaPipeFaces, is_dominated, merge_boxes, summarise
from omnihuman_pipeline.scoring.registry import build_scorer, score_columns


def _still(image: np.ndarray, n: int = 3) -> AnalysisClip:
    return AnalysisClip(frames=np.stack([image] * n), fps=25.0)


@pytest.fixture(scope="module")
def scorer():
    pytest.importorskip("mediapipe")
    s = MediaPipeFaces(n_frames=3)
    s.setup()
    yield s
    s.close()


def test_astronaut_has_one_dominant_face(scorer, astronaut):
    """The astronaut portrait: one face in every frame, dominant, ~3.5 % of the frame and ~19 % of its height."""
    score = scorer.score(_still(resize_short_side(astronaut, 256)))
    assert score.backend == "mediapipe" and score.value == 1.0
    e = score.extra
    assert e["count"] == 1 and e["count_max"] == 1 and e["dominant"] is True and e["frames"] == 1.0
    assert 0.02 < e["area"] < 0.06 and 0.14 < e["height"] < 0.25


def test_two_astronauts_are_not_dominant(scorer, astronaut):
    """Two astronaut crops side by side: two faces of the same size, so no dominant face."""
    pair = resize_short_side(np.concatenate([astronaut[:, 80:336], astronaut[:, 80:336]], axis=1), 256)
    score = scorer.score(_still(pair))
    assert score.value == 2.0 and score.extra["count_max"] == 2 and score.extra["dominant"] is False


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_face_in_coffee_or_cat(scorer, name):
    """A cup and a cat: no face, nothing dominant."""
    score = scorer.score(_still(resize_short_side(getattr(skimage.data, name)(), 256)))
    e = score.extra
    assert score.value == 0.0 and e["count_max"] == 0 and e["frames"] == 0.0
    assert e["area"] == 0.0 and e["dominant"] is False


def test_carphone_is_a_close_up_of_one_face(scorer, carphone_clip):
    """The real carphone talking head: one dominant face about a third of the frame high."""
    score = MediaPipeFaces().score(carphone_clip)
    assert score.value == 1.0 and score.extra["dominant"] is True and score.extra["n_frames"] == 8
    assert score.extra["height"] > 0.3


def test_dominance_rule():
    """A frame is dominated by one face or a largest face >= 4x the second; the clip needs 80 % such frames."""
    big, small, same = (
        FaceBox(0, 0, 0.4, 0.4, 0.9),
        FaceBox(0.6, 0.6, 0.75, 0.75, 0.9),
        FaceBox(0.5, 0, 0.9, 0.4, 0.9),
    )
    assert is_dominated([big.area, small.area], 4.0) and not is_dominated([big.area, same.area], 4.0)
    assert not is_dominated([], 4.0)
    speaker_and_background = summarise([[big, small]] * 4 + [[big]], dominant_share=0.8, dominant_ratio=4.0)
    assert speaker_and_background.extra["dominant"] is True and speaker_and_background.value == 2.0
    two_speakers = summarise([[big, same]] * 2 + [[big]] * 3, dominant_share=0.8, dominant_ratio=4.0)
    assert two_speakers.extra["dominant"] is False and two_speakers.value == 1.0
    assert two_speakers.extra["count_max"] == 2 and two_speakers.extra["area"] == pytest.approx(0.16)


def test_lower_median_count_is_an_integer():
    """With an even number of frames the count is the lower median, never x.5."""
    a, b = FaceBox(0, 0, 0.1, 0.1, 0.9), FaceBox(0.5, 0.5, 0.6, 0.6, 0.9)
    assert summarise([[a], [a, b]], dominant_share=0.8, dominant_ratio=4.0).value == 1.0


def test_both_models_boxes_merge_into_one_face():
    """The short- and full-range boxes of one face overlap and count once; a distant face is kept."""
    short, full, far = (
        FaceBox(0.3, 0.2, 0.5, 0.4, 0.92),
        FaceBox(0.31, 0.19, 0.52, 0.42, 0.85),
        FaceBox(0.8, 0.1, 0.85, 0.15, 0.8),
    )
    assert merge_boxes([full, short, far], 0.3) == [short, far]


def test_empty_clip_is_too_short(scorer):
    """No frames give 'too_short'."""
    assert scorer.score(AnalysisClip(np.zeros((0, 8, 8, 3), np.uint8), 25.0)).error == "too_short"


def test_registry_columns(astronaut):
    """The registry builds the face scorer by default; its columns are face, face_count, face_dominant, ..."""
    pytest.importorskip("mediapipe")
    scorer = build_scorer("face", n_frames=1)
    cols = score_columns("face", scorer.score(_still(resize_short_side(astronaut, 256), 1)))
    assert cols["face"] == 1.0 and cols["face_count"] == 1 and cols["face_backend"] == "mediapipe"
    assert {"face_area", "face_height", "face_dominant", "face_frames", "face_count_max"} <= set(cols)
