"""Cache the features of every T-eligible clip once: decode, encode, commit shards; resumable.

For each clip and each feature kind the wanted hash is ``hash(kind config hash, the clip's inputs)``
(video/audio: the clip file's path, size, span and frame count; text: the caption; pose: the pose
arrays file and the P flag). An entry with that hash already in the store is reused; the rest are
computed, decoding the clip at most once, and committed ``clips_per_shard`` clips at a time. A run
killed at any point therefore loses at most the uncommitted clips, and the next run computes only
what is missing. Changing one kind's settings changes only that kind's hash, so only that kind is
recomputed. Entries no clip refers to any more are deleted at the end (``store.gc``).

A clip whose media are missing or fail to decode gets a status row (``missing_media``,
``decode_failed``, ``too_short``, ``failed``) with the error and is skipped; the run goes on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from omnihuman_pipeline.features.clip_media import (
    ClipFeatureError,
    read_clip_audio,
    read_clip_video,
    reference_index,
)
from omnihuman_pipeline.features.codec import TIME_MAJOR, to_time_major
from omnihuman_pipeline.features.config import KINDS, FeatureConfig, stable_hash
from omnihuman_pipeline.features.shards import Entry, FeatureStore, PendingEntry
from omnihuman_pipeline.media.clip_source import ClipSpan
from omnihuman_pipeline.models.latent_layout import num_latent_frames

logger = logging.getLogger(__name__)

OK, NOT_ELIGIBLE, FAILED = "ok", "not_eligible", "failed"


@dataclass(frozen=True)
class ClipInputs:
    """What the features of one clip are computed from (a row of the clips table).

    `media_path` is the clip's media file, "" where curation wrote none (`media.write_clips`); the frames and
    audio then come from `span`, the clip's range of its source video, with the same resample, rotation and
    scaling (`media.clip_source`).
    """

    clip_id: str
    video_id: str
    media_path: str
    span: ClipSpan | None
    n_frames: int
    start_s: float
    end_s: float
    has_audio: bool
    caption: str
    pose_arrays: str | None
    eligible_T: bool
    eligible_A: bool
    eligible_P: bool


def clip_inputs(clips: pd.DataFrame) -> list[ClipInputs]:
    """Rows of the clips table as :class:`ClipInputs`, sorted by clip id.

    Optional columns: ``caption`` (absent: ""), ``pose_arrays`` (absent: no pose), ``eligible_A`` /
    ``eligible_P`` (absent: False), ``has_audio`` (absent: True, the file decides), ``media_path`` (absent or
    empty: the source span), the span columns (``source_path``, ``source_t0_s``, ``start_frame``, ``end_frame``,
    ``media_fps``, ``media_width``, ``media_height``; absent: no span).
    """

    def col(row, name, default):
        value = row.get(name, default)
        return default if value is None or (isinstance(value, float) and np.isnan(value)) else value

    out = []
    for row in clips.to_dict("records"):
        out.append(ClipInputs(
            clip_id=str(row["clip_id"]), video_id=str(col(row, "video_id", "")),
            media_path=str(col(row, "media_path", "")), span=ClipSpan.from_row(row),
            n_frames=int(col(row, "n_frames", 0)),
            start_s=float(col(row, "start_s", 0.0)), end_s=float(col(row, "end_s", 0.0)),
            has_audio=bool(col(row, "has_audio", True)), caption=str(col(row, "caption", "")),
            pose_arrays=col(row, "pose_arrays", None) or None,
            eligible_T=bool(col(row, "eligible_T", False)), eligible_A=bool(col(row, "eligible_A", False)),
            eligible_P=bool(col(row, "eligible_P", False)),
        ))
    return sorted(out, key=lambda c: c.clip_id)


def _file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else -1
    except OSError:
        return -1


def wanted_hashes(config: FeatureConfig, clip: ClipInputs) -> dict[str, str | None]:
    """Per-kind hash each stored entry must carry to be reused; None where the kind does not apply."""
    if clip.media_path or clip.span is None:
        source = [clip.media_path, _file_size(clip.media_path), clip.n_frames, clip.start_s, clip.end_s]
    else:
        span = clip.span
        source = ["span", span.source_path, _file_size(span.source_path), span.start_frame, span.end_frame,
                  span.fps, span.t0_s, span.width, span.height]
    pose = None
    if clip.eligible_P and clip.pose_arrays:
        pose = stable_hash([config.kind_hash("pose"), source, clip.pose_arrays, _file_size(clip.pose_arrays)])
    return {
        "video": stable_hash([config.kind_hash("video"), source, clip.clip_id]),
        "audio": stable_hash([config.kind_hash("audio"), source, clip.has_audio]),
        "text": stable_hash([config.kind_hash("text"), clip.caption]),
        "pose": pose,
    }


class Backends:
    """The encoders, each built on first use (a run with nothing to compute loads no model)."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._built: dict[str, Any] = {}

    def get(self, kind: str):
        if kind not in self._built:
            c = self.config
            if kind == "video":
                from omnihuman_pipeline.features.vae import build_video_encoder

                self._built[kind] = build_video_encoder(c.video.backend, weights=c.video.weights,
                                                        device=c.video.device, dtype=c.video.dtype)
            elif kind == "audio":
                from omnihuman_pipeline.features.audio import build_audio_encoder

                self._built[kind] = build_audio_encoder(c.audio.backend, weights=c.audio.weights,
                                                        device=c.audio.device)
            elif kind == "text":
                from omnihuman_pipeline.features.text import build_text_encoder

                self._built[kind] = build_text_encoder(c.text.backend, max_length=c.text.max_length,
                                                       weights=c.text.weights, device=c.text.device)
        return self._built.get(kind)


def _dtype(name: str):
    from omnihuman_pipeline.features.vae import DTYPES

    return DTYPES[name]


def compute_clip(clip: ClipInputs, todo: list[str], have: dict[str, Entry | None], wanted: dict[str, str | None],
                 backends: Backends, config: FeatureConfig) -> list[PendingEntry]:
    """Compute the `todo` kinds of one clip, decoding it at most once.

    Raises:
        ClipFeatureError: missing media, decode failure, too short.
    """
    import torch

    from omnihuman_pipeline.features.audio import clip_audio_features
    from omnihuman_pipeline.features.pose_maps import load_pose_arrays

    fr, vc = config.frames, config.video
    out: list[PendingEntry] = []
    video_meta = have["video"].meta if have.get("video") is not None else None
    if "video" in todo or video_meta is None:
        video = read_clip_video(clip.media_path or clip.span, short_side=vc.short_side, multiple=vc.multiple, fps=fr.fps,
                                max_frames=fr.max_frames, min_frames=fr.min_frames)
        n, height, width = video.frames.shape[:3]
        encoder = backends.get("video")
        latents = encoder.encode(video.frames)
        ref = reference_index(clip.clip_id, n, vc.reference_frame, vc.seed)
        ref_latent = encoder.encode(video.frames[ref:ref + 1])
        video_meta = {"frames": n, "decoded_frames": video.decoded, "height": height, "width": width,
                      "latent_frames": num_latent_frames(n), "latent_shape": list(latents.stored.shape),
                      "ref_frame": ref, "scale": latents.scale, "offset": latents.offset, "layout": TIME_MAJOR,
                      **encoder.describe()}
        if "video" in todo:
            out.append(PendingEntry(clip.clip_id, "video", wanted["video"], encoder.name,
                                    {"latents": to_time_major(latents.stored),
                                     "ref_latent": to_time_major(ref_latent.stored)}, video_meta))
    n, height, width = video_meta["frames"], video_meta["height"], video_meta["width"]
    if "audio" in todo:
        audio = read_clip_audio(clip.media_path or clip.span, n_frames=n, fps=fr.fps, sample_rate=fr.sample_rate)
        encoder = backends.get("audio")
        if audio is None:
            out.append(PendingEntry(clip.clip_id, "audio", wanted["audio"], encoder.name, {},
                                    {"present": False, **encoder.describe()}))
        else:
            feats = clip_audio_features(encoder, audio, n_frames=n, fps=fr.fps, sample_rate=fr.sample_rate)
            out.append(PendingEntry(clip.clip_id, "audio", wanted["audio"], encoder.name,
                                    {"features": torch.from_numpy(feats).to(_dtype(config.audio.dtype))},
                                    {"present": True, "shape": list(feats.shape), **encoder.describe()}))
    if "text" in todo:
        encoder = backends.get("text")
        states, mask = encoder.encode(clip.caption)
        out.append(PendingEntry(clip.clip_id, "text", wanted["text"], encoder.name,
                                {"states": torch.from_numpy(states).to(_dtype(config.text.dtype)),
                                 "mask": torch.from_numpy(mask)},
                                {"tokens": int(mask.sum()), **encoder.describe()}))
    if "pose" in todo:
        if not os.path.isfile(clip.pose_arrays):
            raise ClipFeatureError("missing_media", f"pose arrays not found: {clip.pose_arrays}")
        body, hands = load_pose_arrays(clip.pose_arrays, n, config.pose.max_gap)
        out.append(PendingEntry(clip.clip_id, "pose", wanted["pose"], config.pose.backend,
                                {"body": body, "hands": hands},
                                {"width": width, "height": height, "frames": n,
                                 "body_frames": int(np.isfinite(body[..., 2]).any(axis=1).sum()),
                                 "render": pose_render_settings(config)}))
    return out


def pose_render_settings(config: FeatureConfig) -> dict[str, Any]:
    """How the loader draws this clip's skeleton maps (stored with the keypoints, so reads need no config)."""
    p = config.pose
    return {"min_confidence": p.min_confidence, "stick_width": p.stick_width, "joint_radius": p.joint_radius,
            "draw_hands": p.hands}


def run_features(clips: pd.DataFrame, store: FeatureStore, config: FeatureConfig, *,
                 on_clip_done: Callable[[str, bool], None] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Cache the features of every T-eligible clip (module docstring).

    Args:
        clips: the clips table (``data/03_primary/clips.parquet``); paths relative to the working dir.
        store: where shards go.
        config: the feature settings.
        on_clip_done: called as ``(clip_id, computed)`` after each T-eligible clip (tests inject
            interruptions here).

    Returns:
        The ``features`` index table (one row per clip, see :func:`index_row`) and a summary dict.
    """
    t0 = time.perf_counter()
    store.clean()
    stored: dict[tuple[str, str, str], Entry] = {(e.clip_id, e.kind, e.hash): e for e in store.entries()}
    backends = Backends(config)
    pending: list[PendingEntry] = []
    pending_clips, computed = 0, Counter()
    results: list[tuple[ClipInputs, dict, str, str | None]] = []

    def flush() -> None:
        nonlocal pending, pending_clips
        if pending:
            for entry in store.write_shard(pending):
                stored[(entry.clip_id, entry.kind, entry.hash)] = entry
        pending, pending_clips = [], 0

    for clip in clip_inputs(clips):
        wanted = wanted_hashes(config, clip)
        if not clip.eligible_T:
            results.append((clip, wanted, NOT_ELIGIBLE, None))
            continue
        have = {k: stored.get((clip.clip_id, k, h)) if h else None for k, h in wanted.items()}
        todo = [k for k, h in wanted.items() if h and have[k] is None]
        status, error = OK, None
        if todo:
            try:
                new = compute_clip(clip, todo, have, wanted, backends, config)
                pending += new
                pending_clips += 1
                computed.update(e.kind for e in new)
                computed["clips"] += 1
                computed["clip_frames"] += next((e.meta["frames"] for e in new if e.kind == "video"), 0)
            except ClipFeatureError as err:
                status, error = err.status, str(err)
            except Exception as err:  # our own bug or a backend failure: recorded, the run goes on
                logger.exception("features of %s failed", clip.clip_id)
                status, error = FAILED, f"{type(err).__name__}: {err}"
            if status != OK:
                logger.warning("%s: %s (%s)", clip.clip_id, status, error)
        results.append((clip, wanted, status, error))
        if pending_clips >= config.store.clips_per_shard:
            flush()
        if on_clip_done is not None:
            on_clip_done(clip.clip_id, bool(todo) and status == OK)
    flush()
    index = pd.DataFrame([index_row(c, w, s, e, stored, config) for c, w, s, e in results],
                         columns=INDEX_COLUMNS)
    index = index.astype({c: "Int64" for c in INT_COLUMNS})
    removed = _collect_garbage(store, index) if config.store.gc else []
    summary = summarize(index, computed, time.perf_counter() - t0, config, removed)
    logger.info("features: %d/%d T-eligible clips cached (%d computed now, %d reused), statuses %s",
                summary["ok"], summary["eligible_T"], computed["clips"], summary["ok"] - computed["clips"],
                summary["statuses"])
    return index, summary


INDEX_COLUMNS = [
    "clip_id", "video_id", "status", "error", "eligible_T", "eligible_A", "eligible_P", "has_audio", "has_pose",
    "n_frames", "n_latent_frames", "height", "width", "ref_frame", "latent_channels", "audio_layers",
    "audio_dim", "text_dim", "text_length", "caption", "backends", "config_hash", "shard",
    *[f"{k}_{f}" for k in KINDS for f in ("backend", "hash", "shard")],
]


INT_COLUMNS = ["n_frames", "n_latent_frames", "height", "width", "ref_frame", "latent_channels", "audio_layers",
               "audio_dim", "text_dim", "text_length"]


def index_row(clip: ClipInputs, wanted: dict[str, str | None], status: str, error: str | None,
              stored: dict[tuple[str, str, str], Entry], config: FeatureConfig) -> dict[str, Any]:
    """One row of the ``features`` table.

    Columns: ``clip_id``, ``video_id``, ``status`` (ok | not_eligible | missing_media | decode_failed |
    too_short | failed), ``error``, the eligibility flags, ``has_audio`` / ``has_pose`` (features
    stored), ``n_frames`` (cached pixel frames F = 1 + 4k), ``n_latent_frames``, ``height``/``width``
    (bucket), ``ref_frame``, ``latent_channels``, ``audio_layers``/``audio_dim``, ``text_dim``/
    ``text_length``, ``caption``, ``backends`` (JSON kind -> backend), ``config_hash`` (all kinds),
    ``shard`` (the video shard), and per kind ``<kind>_backend``, ``<kind>_hash``, ``<kind>_shard``.
    """
    entries = {k: stored.get((clip.clip_id, k, h)) if h else None for k, h in wanted.items()}
    if status == OK and any(wanted[k] and entries[k] is None for k in KINDS):
        status, error = FAILED, "features incomplete after the run"
    present = status == OK
    v = entries["video"].meta if present else {}
    a = entries["audio"].meta if present else {}
    t = entries["text"].meta if present else {}
    row: dict[str, Any] = {
        "clip_id": clip.clip_id, "video_id": clip.video_id, "status": status, "error": error,
        "eligible_T": clip.eligible_T, "eligible_A": clip.eligible_A, "eligible_P": clip.eligible_P,
        "has_audio": bool(a.get("present", False)), "has_pose": present and entries["pose"] is not None,
        "n_frames": v.get("frames"), "n_latent_frames": v.get("latent_frames"), "height": v.get("height"),
        "width": v.get("width"), "ref_frame": v.get("ref_frame"), "latent_channels": v.get("latent_channels"),
        "audio_layers": a.get("layers"), "audio_dim": a.get("dim"), "text_dim": t.get("dim"),
        "text_length": t.get("max_length"), "caption": clip.caption,
        "backends": json.dumps({k: (e.backend if e else None) for k, e in entries.items()} if present else {}),
        "config_hash": config.config_hash(),
        "shard": entries["video"].shard if present else None,
    }
    for k in KINDS:
        e = entries[k] if present else None
        row |= {f"{k}_backend": e.backend if e else None, f"{k}_hash": e.hash if e else None,
                f"{k}_shard": e.shard if e else None}
    return row


def _collect_garbage(store: FeatureStore, index: pd.DataFrame) -> list[str]:
    referenced = {s for k in KINDS for s in index[f"{k}_shard"].dropna()}
    # a clip that failed this run keeps its older shards: its features may come back
    failed = set(index.loc[~index["status"].isin([OK, NOT_ELIGIBLE]), "clip_id"])
    keep = referenced | {e.shard for e in store.entries() if e.clip_id in failed}
    unused = [s for s in store.shards() if s not in keep]
    store.remove(unused)
    if unused:
        logger.info("features: removed %d shards no clip refers to", len(unused))
    return unused


def summarize(index: pd.DataFrame, computed: Counter, seconds: float, config: FeatureConfig,
              removed: list[str]) -> dict[str, Any]:
    """Counts per status, computed vs reused, seconds and throughput (clip-seconds per wall second)."""
    eligible = index[index["eligible_T"]]
    ok = eligible[eligible["status"] == OK]
    clip_s = computed["clip_frames"] / config.frames.fps
    return {
        "clips": len(index), "eligible_T": len(eligible), "ok": len(ok),
        "statuses": {str(k): int(v) for k, v in eligible["status"].value_counts().items()},
        "computed_clips": computed["clips"], "computed_kinds": {k: computed[k] for k in KINDS},
        "reused_clips": len(ok) - computed["clips"],
        "with_audio": int(ok["has_audio"].sum()), "with_pose": int(ok["has_pose"].sum()),
        "hours_cached": float(ok["n_frames"].fillna(0).sum() / config.frames.fps / 3600),
        "seconds": seconds, "computed_clip_seconds": clip_s,
        "clip_seconds_per_second": clip_s / seconds if seconds > 0 else 0.0,
        "config_hash": config.config_hash(),
        "kind_hashes": {k: config.kind_hash(k) for k in KINDS},
        "backends": {"video": config.video.backend, "audio": config.audio.backend, "text": config.text.backend,
                     "pose": config.pose.backend},
        "shards_removed": len(removed),
    }
