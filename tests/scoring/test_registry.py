"""Tests of building scorers from config and of the flat per-clip score row."""

import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from omnihuman_pipeline.scoring.base import Score
from omnihuman_pipeline.scoring.registry import build_scorer, build_scorers, score_clip

FULL_CONFIG = {
    "motion": {"backend": "farneback", "n_windows": 4},
    "quality": {"backend": "brisque", "n_frames": 2},
    "aesthetic": {"backend": "image_stats"},
    "person": {"backend": "mediapipe", "n_frames": 2},
}


@dataclass
class Exploding:
    signal: ClassVar[str] = "boom"
    backend: ClassVar[str] = "test"

    def setup(self) -> None:
        pass

    def score(self, clip) -> Score:
        raise RuntimeError("kaput")


def test_build_scorers_from_config():
    """Each configured signal gets its backend and parameters; disabled signals are skipped."""
    scorers = build_scorers(
        {**FULL_CONFIG, "person": {"backend": "mediapipe", "enabled": False}, "extra": None}
    )
    assert [(s.signal, s.backend) for s in scorers] == [
        ("motion", "farneback"),
        ("quality", "brisque"),
        ("aesthetic", "image_stats"),
    ]
    assert scorers[0].n_windows == 4
    assert build_scorer("aesthetic").backend == "image_stats" and build_scorer("motion").backend == "dis"


@pytest.mark.parametrize(
    "config, match",
    [
        ({"motion": {"backend": "raft"}}, "unknown motion backend 'raft'.*farneback"),
        ({"sharpness": {}}, "unknown scorer signal 'sharpness'"),
        ({"quality": {"n_frame": 3}}, r"no parameter\(s\) \['n_frame'\]"),
    ],
)
def test_bad_config_raises_value_error(config, match):
    """Unknown backends, signals and parameters are ValueErrors that list what exists."""
    with pytest.raises(ValueError, match=match):
        build_scorers(config)


def test_score_clip_flat_columns(pan_clip):
    """One row with value, backend, error, extras and timing columns per signal."""
    row = score_clip(pan_clip, build_scorers(FULL_CONFIG))
    for signal, backend in [
        ("motion", "farneback"),
        ("quality", "brisque"),
        ("aesthetic", "image_stats"),
        ("person", "mediapipe"),
    ]:
        assert row[f"{signal}_backend"] == backend and row[f"{signal}_error"] is None
        assert math.isfinite(row[signal]) and row[f"timing_{signal}"] >= 0
    assert {"motion_jitter", "motion_p90", "person_face_count", "person_face_area", "quality_worst"} <= set(
        row
    )
    assert row["person"] == 1.0


def test_score_clip_captures_exceptions(static_clip):
    """A scorer that raises leaves NaN and 'exception: <type>: <msg>'; the other scorers still run."""
    row = score_clip(static_clip, [Exploding(), build_scorer("motion")])
    assert math.isnan(row["boom"]) and row["boom_error"] == "exception: RuntimeError: kaput"
    assert row["boom_backend"] == "test" and "timing_boom" in row
    assert row["motion_error"] is None and row["motion"] < 0.1
