"""Which videos an evaluation runs on (paper §4.1): the training split's held-out clips, or folders of real videos.

A test set is a named list of :class:`TestVideo` s (a media file with its audio track, optional pose keypoints and
caption) and the drives it is generated with. Two sources (``parameters_evaluate.yml: evaluate_test_sets``):

* ``validation`` (the default): the clips of the videos training held out, recomputed exactly as training split them
  (``training.data.split_videos`` over the features index's usable clips, with ``train.data``'s ``val_fraction``,
  ``val_min_videos`` and ``seed``). Media, caption and pose come from the clips table; a clip curation wrote no
  file for (``media.write_clips``) is read from its span of the source video, as the features pipeline reads it.
* ``folder``: every video under a folder (CelebV-HQ, RAVDESS, a CyberHost-style test set), named relative to
  ``data/01_raw``. Layout::

      <folder>/<name>.mp4          a real video with its audio track (any container PyAV reads)
      <folder>/<name>.pose.npz     optional: body/hand keypoints (curate's pose arrays) for pose-driven rows

  The caption is written by the curate captioner from the first frame and the audio, as for generation.

Resolution only lists files; a video that cannot be decoded, has no audio track or lacks keypoints for a
pose-driven row is found when it is read and gets a per-video status and reason (``evaluation.run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from omnihuman_pipeline.inference.conditions import DRIVES
from omnihuman_pipeline.media.clip_source import ClipSpan

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
POSE_SUFFIX = ".pose.npz"
SOURCES = ("validation", "folder")
ELIGIBILITY = ("T", "A", "P")


class EvaluationError(ValueError):
    """An evaluation that cannot run as configured; the message names what to run or change."""


@dataclass(frozen=True)
class TestVideo:
    """One real test video.

    Attributes:
        video_id: stable id within its test set (a clip id, or the file's path below the folder without suffix).
        media: the video file with its audio track (frames, first frame as reference, driving audio), or None.
        pose: keypoints ``.npz`` for pose-driven rows, or None.
        caption: the text condition; None: the curate captioner writes it.
        error: why the video cannot be used (found at resolution, e.g. neither clip media nor a source span),
            else None.
        span: where a validation clip without media lies in its source video (its frames and audio are read
            from there), or None.
    """

    __test__ = False  # not a pytest class

    video_id: str
    media: str | None
    pose: str | None = None
    caption: str | None = None
    error: str | None = None
    span: ClipSpan | None = None

    @property
    def source(self) -> str | ClipSpan | None:
        """What the real frames and audio are read from: the media file, else the source span."""
        return self.media or self.span


@dataclass(frozen=True)
class TestSet:
    """A named test set.

    Attributes:
        name: key in reports (``eval_summary.json``, ``test_set`` columns).
        label: column-group heading of the table.
        drives: generation drives evaluated (``audio``, ``audio_pose``, ``pose``, ``text``); one table row each.
        videos: the test videos, in a stable order.
    """

    __test__ = False

    name: str
    label: str
    drives: tuple[str, ...]
    videos: tuple[TestVideo, ...]


def clip_media_path(clip: Mapping[str, Any]) -> str | None:
    """The written media file of a clips-table row: ``media_path`` where the table has that column (empty when
    curation wrote no media for the clip), else ``clip_path``; None when there is none."""
    value = clip["media_path"] if "media_path" in clip else clip.get("clip_path")
    return str(value) if isinstance(value, str) and value else None


def validation_clip_ids(features: pd.DataFrame, train: Mapping[str, Any] | None, store: Any = None) -> list[str]:
    """Clip ids of the videos training held out: the same split training made, from the features index.

    Args:
        features: the features index (``features.parquet``).
        train: the ``train`` parameter group (its ``data.val_fraction``, ``val_min_videos``, ``seed``).
        store: the feature shard store; training leaves clips in unreadable shards out before it splits, so
            given the store the split does too (None: every usable clip of the index enters the split).

    Returns:
        The held-out videos' usable clip ids, in index order.

    Raises:
        EvaluationError: no usable clip, or a split that holds out no video.
    """
    from omnihuman_pipeline.training.config import TrainSettings
    from omnihuman_pipeline.training.data import clip_refs, readable_shards, split_videos

    data = TrainSettings.from_params(dict(train or {})).data
    refs = clip_refs(features) if len(features) and "status" in features else []
    if store is not None and refs:
        bad = readable_shards(store, {r.shard for r in refs})
        refs = [r for r in refs if r.shard not in bad]
    if not refs:
        raise EvaluationError("the features index has no usable clip: run `kedro run --pipeline=features` (after "
                              "curate) before evaluating on the validation clips, or evaluate a folder test set")
    held_out = split_videos(refs, data.val_fraction, data.val_min_videos, data.seed)
    if not held_out:
        n_videos = len({r.video_id for r in refs})
        raise EvaluationError(
            f"no validation videos: the training split of {len(refs)} usable clips from {n_videos} video(s) holds "
            f"out none (train.data.val_fraction={data.val_fraction}, val_min_videos={data.val_min_videos}; a split "
            "needs at least 2 videos). Curate more videos, or evaluate a folder test set (evaluate_test_sets)")
    return [r.clip_id for r in refs if r.video_id in held_out]


def validation_videos(clip_ids: list[str], clips: pd.DataFrame, eligible: str = "T") -> tuple[TestVideo, ...]:
    """The test videos of held-out clips: media, pose arrays and caption from the clips table.

    Args:
        clip_ids: the held-out clips (``validation_clip_ids``).
        clips: the curate clips table.
        eligible: keep clips eligible for ``T`` (all), ``A`` or ``P``.

    Returns:
        One video per kept clip: its media file, else its source span (relative paths below the working directory,
        as the tables write them); a clip missing from the table, or with neither, carries its ``error``.
    """
    table = clips.set_index("clip_id", drop=False) if "clip_id" in clips else pd.DataFrame()
    out = []
    for clip_id in clip_ids:
        if clip_id not in table.index:
            out.append(TestVideo(clip_id, None, error="not_in_clips_table: rerun `kedro run --pipeline=curate`"))
            continue
        row = table.loc[clip_id].to_dict()
        if eligible != "T" and not bool(row.get(f"eligible_{eligible}", False)):
            continue
        media = clip_media_path(row)
        span = None if media else ClipSpan.from_row(row)
        pose = row.get("pose_arrays") if isinstance(row.get("pose_arrays"), str) and row["pose_arrays"] else None
        caption = row.get("caption") if isinstance(row.get("caption"), str) and row["caption"] else None
        out.append(TestVideo(clip_id, media, pose, caption, None if media or span else (
            "no_media: the clips table has neither a clip file nor a source span for this clip (rerun "
            "`kedro run --pipeline=curate`: it records every clip's span and writes the files media.write_clips "
            "selects)"), span))
    return tuple(out)


def folder_videos(root: Path) -> tuple[TestVideo, ...]:
    """The videos under a test-set folder (recursive, hidden files skipped), each with its ``.pose.npz`` if present.

    Raises:
        EvaluationError: the folder does not exist or holds no video.
    """
    if not root.is_dir():
        raise EvaluationError(f"test set folder {root} does not exist: put the test videos there (a folder of "
                              "videos with audio tracks, optional <name>.pose.npz beside each)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise EvaluationError(f"test set folder {root} holds no video ({', '.join(VIDEO_SUFFIXES)})")
    out = []
    for path in files:
        pose = path.with_name(path.stem + POSE_SUFFIX)
        out.append(TestVideo(path.relative_to(root).with_suffix("").as_posix(), str(path),
                             str(pose) if pose.is_file() else None))
    return tuple(out)


def subsample(videos: tuple[TestVideo, ...], max_videos: int | None, seed: int) -> tuple[TestVideo, ...]:
    """At most ``max_videos`` videos, a seeded random subset in the original order (paper: "randomly sampled")."""
    if not max_videos or len(videos) <= max_videos:
        return videos
    from omnihuman_pipeline.training.conditions import unit_hash

    keep = set(sorted(range(len(videos)), key=lambda i: unit_hash("eval", seed, videos[i].video_id))[:max_videos])
    return tuple(v for i, v in enumerate(videos) if i in keep)


def _check_spec(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    known = {"source", "label", "drives", "folder", "eligible", "max_videos", "seed"}
    unknown = set(spec) - known
    if unknown:
        raise EvaluationError(f"test set {name!r}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    values = {"source": "validation", "label": name, "drives": ["audio"], "eligible": "T", "max_videos": None,
              "seed": 0, **spec}
    if values["source"] not in SOURCES:
        raise EvaluationError(f"test set {name!r}: source must be one of {SOURCES}, got {values['source']!r}")
    bad = [d for d in values["drives"] if d not in DRIVES]
    if bad or not values["drives"]:
        raise EvaluationError(f"test set {name!r}: drives must be a non-empty list of {sorted(DRIVES)}, got "
                              f"{values['drives']}")
    if values["eligible"] not in ELIGIBILITY:
        raise EvaluationError(f"test set {name!r}: eligible must be one of {ELIGIBILITY}")
    if values["source"] == "folder" and not values.get("folder"):
        raise EvaluationError(f"test set {name!r}: a folder test set names its `folder` (relative to data/01_raw)")
    return values


def resolve_test_sets(specs: Mapping[str, Mapping[str, Any]], *, features: pd.DataFrame | None = None,
                      clips: pd.DataFrame | None = None, train: Mapping[str, Any] | None = None,
                      store: Any = None, media_root: str | Path | None = None) -> list[TestSet]:
    """Build the configured test sets.

    Args:
        specs: name -> ``{source: validation | folder, label, drives, folder, eligible, max_videos, seed}``
            (``parameters_evaluate.yml: evaluate_test_sets``); a None value leaves a base test set out.
        features: the features index (``validation`` sets).
        clips: the clips table (``validation`` sets).
        train: the ``train`` parameter group (``validation`` sets).
        store: the feature shard store (``validation`` sets: clips in unreadable shards leave the split, as in
            training).
        media_root: the folder ``folder`` names are relative to (``data/01_raw``); absolute names are used as is.

    Returns:
        The test sets in configuration order.

    Raises:
        EvaluationError: no test set, a bad spec, no validation videos, a missing or empty folder.
    """
    out = []
    for name, raw in specs.items():
        if raw is None:
            continue
        spec = _check_spec(name, raw)
        if spec["source"] == "validation":
            if features is None or clips is None:
                raise EvaluationError(f"test set {name!r} needs the features index and the clips table")
            videos = validation_videos(validation_clip_ids(features, train, store), clips, spec["eligible"])
        else:
            folder = Path(spec["folder"])
            videos = folder_videos(folder if folder.is_absolute() or media_root is None else Path(media_root) / folder)
        videos = subsample(videos, spec["max_videos"], int(spec["seed"]))
        if not videos:
            raise EvaluationError(f"test set {name!r} has no video (eligible: {spec['eligible']})")
        out.append(TestSet(name, str(spec["label"]), tuple(spec["drives"]), videos))
    if not out:
        raise EvaluationError("no test set is configured (parameters_evaluate.yml: evaluate_test_sets)")
    return out
