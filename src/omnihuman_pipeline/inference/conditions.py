"""Which conditions a generation job activates, and whether a checkpoint can serve them (paper §3.4).

"For audio-driven scenarios, all conditions except pose are activated. For mixed driving with pose
and audio, all conditions are activated. For pose-only driving, audio is disabled. In general, when a
condition is activated, all conditions with a lower motion-related influence are also activated
unless deemed unnecessary." The motion-related order is text < audio < pose; the reference image is
the appearance condition and is on in every mode. Pose-only driving is the paper's one "unnecessary"
exception: audio is off even though pose is stronger.

=============  =========================  ===================================
drive          active conditions          needs a checkpoint trained with
=============  =========================  ===================================
``text``       text, image                stage 1 or later
``audio``      text, image, audio         stage 2 or later
``audio_pose`` text, image, audio, pose   stage 3
``pose``       text, image, pose          stage 3
=============  =========================  ===================================
"""

from __future__ import annotations

from omnihuman_pipeline.models.export import CONDITIONS, ModelCard

DRIVES: dict[str, tuple[str, ...]] = {
    "text": ("text", "image"),
    "audio": ("text", "image", "audio"),
    "audio_pose": ("text", "image", "audio", "pose"),
    "pose": ("text", "image", "pose"),
}
STAGE_OF_CONDITION = {"text": 1, "image": 1, "audio": 2, "pose": 3}


class GenerationError(ValueError):
    """A generation job that cannot run as given; the message names what to fix."""


def resolve_drive(has_audio: bool, has_pose: bool, drive: str | None = None) -> str:
    """The driving mode of a job from its inputs, or the one it asks for (checked against the inputs).

    Args:
        has_audio: the job gives an audio file.
        has_pose: the job gives a pose file.
        drive: ``text`` | ``audio`` | ``audio_pose`` | ``pose`` | None (infer: audio -> ``audio``,
            pose -> ``pose``, both -> ``audio_pose``, neither -> ``text``).

    Returns:
        A key of :data:`DRIVES`.

    Raises:
        GenerationError: an unknown drive, or one whose input is missing.
    """
    if drive is None:
        return {(True, True): "audio_pose", (True, False): "audio", (False, True): "pose"}.get(
            (has_audio, has_pose), "text")
    if drive not in DRIVES:
        raise GenerationError(f"unknown drive {drive!r}; choose one of {sorted(DRIVES)}")
    needs = set(DRIVES[drive])
    if "audio" in needs and not has_audio:
        raise GenerationError(f"drive {drive!r} is audio-driven but the job gives no audio file (set `audio`)")
    if "pose" in needs and not has_pose:
        raise GenerationError(f"drive {drive!r} is pose-driven but the job gives no pose file (set `pose`)")
    return drive


def active_conditions(drive: str) -> tuple[str, ...]:
    """The conditions a drive switches on, in the model card's order (text, image, audio, pose)."""
    return tuple(c for c in CONDITIONS if c in DRIVES[drive])


def check_checkpoint(card: ModelCard, conditions: tuple[str, ...], checkpoint: str) -> None:
    """Refuse a checkpoint that was not trained with every active condition.

    Args:
        card: the checkpoint's ``model.json``.
        conditions: the active conditions.
        checkpoint: its folder (for the message).

    Raises:
        GenerationError: naming the missing conditions, the checkpoint's stage and the stage needed.
    """
    missing = [c for c in conditions if c not in card.conditions]
    built = {"audio": card.config.with_audio, "pose": card.config.with_pose}
    missing += [c for c, ok in built.items() if c in conditions and not ok and c not in missing]
    if missing:
        need = max(STAGE_OF_CONDITION[c] for c in missing)
        raise GenerationError(
            f"checkpoint {checkpoint} (stage {card.stage}, trained with {', '.join(card.conditions)}) cannot drive "
            f"{', '.join(missing)}: that needs a stage-{need} model (data/06_models/stage{need}) or a drive "
            f"without {', '.join(missing)}")
