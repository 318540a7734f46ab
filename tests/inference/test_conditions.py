"""Which conditions a job activates (paper §3.4) and which checkpoints may serve them."""

from __future__ import annotations

import pytest

from omnihuman_pipeline.inference.conditions import (
    GenerationError,
    active_conditions,
    check_checkpoint,
    resolve_drive,
)
from omnihuman_pipeline.models import ModelCard, OmniHumanConfig


def test_drives_follow_the_paper():
    """Audio-driven: all but pose; audio + pose: all; pose-only: audio off; text and image always on."""
    assert active_conditions(resolve_drive(True, False)) == ("text", "image", "audio")
    assert active_conditions(resolve_drive(True, True)) == ("text", "image", "audio", "pose")
    assert active_conditions(resolve_drive(False, True)) == ("text", "image", "pose")
    assert active_conditions(resolve_drive(False, False)) == ("text", "image")
    assert resolve_drive(True, True, "pose") == "pose"  # audio given only to be muxed


def test_a_drive_without_its_input_or_unknown_is_a_clear_error():
    """Asking for audio_pose without a pose file, or an unknown drive, names what is missing."""
    with pytest.raises(GenerationError, match="no pose file"):
        resolve_drive(True, False, "audio_pose")
    with pytest.raises(GenerationError, match="no audio file"):
        resolve_drive(False, True, "audio")
    with pytest.raises(GenerationError, match="unknown drive"):
        resolve_drive(True, False, "dance")


def test_a_checkpoint_of_the_wrong_stage_is_refused():
    """Pose asked of a stage-2 card (no "pose") names the stage it has and the stage it needs; stage 3 passes."""
    config = OmniHumanConfig.from_preset("tiny")
    stage2 = ModelCard(config, 2, ("text", "image", "audio"))
    with pytest.raises(GenerationError, match=r"stage 2.*cannot drive pose.*stage-3 model"):
        check_checkpoint(stage2, active_conditions("audio_pose"), "data/06_models/stage2")
    check_checkpoint(stage2, active_conditions("audio"), "data/06_models/stage2")
    check_checkpoint(ModelCard(config, 3, ("text", "image", "audio", "pose")), active_conditions("pose"), "s3")
    stage1 = ModelCard(config, 1, ("text", "image"))
    with pytest.raises(GenerationError, match="stage-2 model"):
        check_checkpoint(stage1, active_conditions("audio"), "data/06_models/stage1")
