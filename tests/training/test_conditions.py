"""The omni-conditions sampler: activation frequencies, eligibility, nesting, and the T-only subset."""

from __future__ import annotations

import itertools
import random

import pytest

from omnihuman_pipeline.training.conditions import (
    DRIVING,
    Eligibility,
    Ratios,
    active_conditions,
    expected_frequency,
    is_t_only,
    uses_t_only_clip,
)

STAGES = {"stage1": {"text"}, "stage2": {"text", "audio"}, "stage3": {"text", "audio", "pose"}}
CLIPS = [Eligibility(True, a, p) for a, p in itertools.product((False, True), repeat=2)] + [Eligibility(False)]


def _draw(eligibility: Eligibility, stage: set[str], ratios: Ratios, n: int = 10_000, seed: int = 0):
    rng = random.Random(seed)
    return [active_conditions(eligibility, stage, ratios, rng.random()) for _ in range(n)]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_activation_frequencies_match_the_paper_ratios_within_two_percent(stage):
    """10,000 draws per clip kind: each condition's frequency is within 0.02 of its ratio (0 where ineligible)."""
    ratios = Ratios()
    for eligibility in CLIPS:
        draws = _draw(eligibility, STAGES[stage], ratios)
        for name in DRIVING:
            freq = sum(getattr(d, name) for d in draws) / len(draws)
            assert abs(freq - expected_frequency(name, eligibility, STAGES[stage], ratios)) <= 0.02, (eligibility, name)
            if name not in STAGES[stage] or not eligibility.T or not eligibility.allows(name):
                assert freq == 0  # never on an ineligible clip or in a stage that does not train it


def test_default_expected_frequencies_are_the_ratios_themselves():
    """With ratios falling as conditions get stronger, the expected frequency on an eligible clip is the ratio."""
    ratios, clip = Ratios(), Eligibility(True, True, True)
    assert [expected_frequency(n, clip, STAGES["stage3"], ratios) for n in DRIVING] == [0.9, 0.5, 0.25]


def test_a_stronger_active_condition_activates_the_weaker_eligible_ones():
    """Pose on implies audio on (when A-eligible) and text on; audio on implies text on, at any ratios."""
    for ratios in (Ratios(), Ratios(0.9, 0.5, 0.75), Ratios(0.2, 0.5, 0.9)):
        for eligibility in CLIPS:
            for d in _draw(eligibility, STAGES["stage3"], ratios, n=2_000):
                if d.pose:
                    assert d.text and (d.audio or not eligibility.A)
                if d.audio:
                    assert d.text


def test_audio_below_pose_gives_audio_the_pose_rate_on_clips_eligible_for_both():
    """The A < P ablation (0.5 / 0.75): audio is on 75 % of A∩P samples, 50 % of A-only samples."""
    ratios = Ratios(0.9, 0.5, 0.75)
    both, audio_only = Eligibility(True, True, True), Eligibility(True, True, False)
    assert expected_frequency("audio", both, STAGES["stage3"], ratios) == 0.75
    assert expected_frequency("audio", audio_only, STAGES["stage3"], ratios) == 0.5
    freq = sum(d.audio for d in _draw(both, STAGES["stage3"], ratios)) / 10_000
    assert abs(freq - 0.75) <= 0.02


def test_tasks_name_the_strongest_active_condition():
    """Task is pose > audio > text > image (nothing on: the CFG null, 10 % of samples by default)."""
    draws = _draw(Eligibility(True, True, True), STAGES["stage3"], Ratios())
    share = {task: sum(d.task == task for d in draws) / len(draws) for task in ("pose", "audio", "text", "image")}
    for task, expected in {"pose": 0.25, "audio": 0.25, "text": 0.4, "image": 0.1}.items():
        assert abs(share[task] - expected) <= 0.02


def test_t_only_clips_and_their_nested_subsets():
    """T-only = T and eligible for none of the stage's audio/pose; a smaller fraction's subset is inside a larger one."""
    assert is_t_only(Eligibility(True, False, True), {"text", "audio"})
    assert not is_t_only(Eligibility(True, True, False), {"text", "audio"})
    assert not is_t_only(Eligibility(True, False, False), {"text"})  # stage 1 has no T-only notion
    ids = [f"clip-{i}" for i in range(4000)]
    kept = {f: {c for c in ids if uses_t_only_clip(c, f, seed=0)} for f in (0.0, 0.25, 0.5, 1.0)}
    assert kept[0.0] == set() and kept[1.0] == set(ids)
    assert kept[0.25] <= kept[0.5] and abs(len(kept[0.25]) / 4000 - 0.25) < 0.03
    with pytest.raises(ValueError):
        Ratios(audio=1.5)
