"""Declarative eligibility rules: every failed criterion is a reason; A/P are subsets of T."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from omnihuman_pipeline.scoring.eligibility import assign_eligibility, gate_gaps, reason_counts, rule_reasons

RULES = {"duration_s": {"min": 2.0}, "motion": {"min": 0.2, "max": 8}, "quality": {"max": 60.0}}


def test_every_failed_rule_is_listed():
    """Below, above and missing values each give their own reason, in rule order."""
    row = {"duration_s": 1.0, "motion": 9.5, "quality": math.nan, "quality_error": "too_short"}
    assert rule_reasons(row, RULES) == ["duration_s<2", "motion>8", "quality:too_short"]
    assert rule_reasons({"duration_s": 3, "motion": 1, "quality": 10}, RULES) == []
    assert rule_reasons({"duration_s": 3, "motion": 1}, RULES) == ["quality:missing"]


def test_bounds_are_inclusive():
    """A value equal to a bound passes."""
    assert rule_reasons({"duration_s": 2.0, "motion": 8, "quality": 60.0}, RULES) == []


def test_subsets_require_base_and_prefix_reasons():
    """A clip failing T is never A-eligible; A's reasons carry an `A:` prefix."""
    clips = pd.DataFrame({"duration_s": [3.0, 1.0, 3.0], "motion": [1.0, 1.0, 1.0], "quality": [10.0] * 3,
                          "sync_conf": [5.0, 5.0, 1.0]})
    out = assign_eligibility(clips, {"T": RULES, "A": {"sync_conf": {"min": 3}}}, base="T")
    assert out["eligible_T"].tolist() == [True, False, True]
    assert out["eligible_A"].tolist() == [True, False, False]
    assert out["reasons"].tolist() == [[], ["duration_s<2"], ["A:sync_conf<3"]]
    assert reason_counts(out["reasons"]) == {"A:sync_conf<3": 1, "duration_s<2": 1}
    assert "eligible_T" not in clips  # input untouched


def test_abs_bound_equality_and_named_reasons():
    """`abs_max` bounds both signs; `equals` compares; `reason` replaces the generated text, also when missing."""
    rules = {"has_audio": {"equals": True, "reason": "no_audio"}, "sync_offset": {"abs_max": 3},
             "face_dominant": {"equals": True}}
    assert rule_reasons({"has_audio": True, "sync_offset": -4, "face_dominant": False}, rules) == [
        "|sync_offset|>3", "face_dominant!=True"]
    assert rule_reasons({"has_audio": False, "sync_offset": 3, "face_dominant": True}, rules) == ["no_audio"]
    assert rule_reasons({"sync_offset": 0, "face_dominant": True}, rules) == ["no_audio"]


def test_missing_values_name_their_scorer_error_once():
    """A scorer's error explains each of its missing columns once; a named reason covers the same cause."""
    rules = {"has_audio": {"equals": True, "reason": "no_audio"}, "speech_ratio": {"min": 0.3},
             "sync_offset": {"abs_max": 3}, "sync_conf": {"min": 2.5}}
    row = {"has_audio": False, "speech_error": "no_audio", "sync_error": "no_audio"}
    assert rule_reasons(row, rules) == ["no_audio"]
    row = {"has_audio": True, "speech_ratio": 0.9, "sync_error": "no_face"}
    assert rule_reasons(row, rules) == ["sync:no_face"]
    assert rule_reasons({"has_audio": True, "speech_ratio": 0.9}, rules) == ["sync_offset:missing", "sync_conf:missing"]


def test_gated_scorer_is_skipped_with_the_failed_gate_as_error():
    """A scorer behind `when` runs only if earlier columns pass; otherwise NaN with `skipped:<rule>`."""
    import numpy as np

    from omnihuman_pipeline.scoring.base import AnalysisClip
    from omnihuman_pipeline.scoring.registry import build_scorers, score_clip

    frames = np.zeros((10, 32, 32, 3), np.uint8)
    scorers = build_scorers({"aesthetic": {"backend": "image_stats"},
                             "motion": {"backend": "farneback", "when": {"aesthetic": {"min": 9.5}}}})
    row = score_clip(AnalysisClip(frames, 25.0), scorers)
    assert row["aesthetic"] < 9.5 and np.isnan(row["motion"])
    assert row["motion_error"] == "skipped:aesthetic<9.5" and row["motion_backend"] == "farneback"
    open_gate = build_scorers({"motion": {"backend": "farneback", "when": {"aesthetic": {"max": 10}}}})
    assert score_clip(AnalysisClip(frames, 25.0), open_gate)["motion_error"] == "skipped:aesthetic:missing"


def test_gate_gaps_name_gates_stricter_than_a_rule():
    """pose gated at person >= 0.5 under T's person >= 0.3: a gap; equal or stricter rules, and columns no rule
    bounds, are not."""
    scorers = {"pose": {"backend": "mediapipe", "when": {"person": {"min": 0.5}}},
               "sync": {"when": {"speech_ratio": {"min": 0.05}, "face_frames": {"min": 0.1}}},
               "motion": {"backend": "dis"}, "off": None}
    rules = {"T": {"person": {"min": 0.3}}, "A": {"speech_ratio": {"min": 0.3}}}
    assert gate_gaps(scorers, rules) == ["pose runs only where person >= 0.5, but T admits person >= 0.3"]
    assert gate_gaps(scorers, {"T": {"person": {"min": 0.5}}, "A": {"speech_ratio": {"min": 0.05}}}) == []
    assert gate_gaps({"x": {"when": {"motion": {"max": 4}}}}, {"T": {"motion": {"max": 8}}}) == [
        "x runs only where motion <= 4, but T admits motion <= 8"]


def test_default_gates_leave_no_gap():
    """The shipped parameters: no scorer skips a clip that a rule admits on the gated column."""
    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/base/parameters_curate.yml").read_text())
    assert gate_gaps(params["scorers"], params["eligibility"]["rules"]) == []
    assert params["scorers"]["pose"]["when"]["person"]["min"] == params["eligibility"]["rules"]["T"]["person"]["min"]
