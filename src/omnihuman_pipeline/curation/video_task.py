"""The per-video unit of work: probe, decode once, split scenes, score the clips.

`VideoTask` runs in a worker (process or Ray actor). It holds the scorers, loaded once by
`setup()`, and turns one file into a `VideoResult`: one `videos` row and one row of scores per
clip. Expected problems (unreadable, no video, truncated ...) become statuses; nothing raises.

No clip media are written here: the decode is at analysis resolution only, and the media of the clips worth
keeping are written after eligibility (`curation.media_step`), from the span each row records
(`start_frame`, `end_frame`, `source_t0_s`).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnihuman_pipeline.curation.config import CurateConfig, table_path
from omnihuman_pipeline.media import errors
from omnihuman_pipeline.media.decode import FrameReader, audio_segment, decode_audio, fit_short_side
from omnihuman_pipeline.media.probe import VideoInfo, probe
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.scenes import BACKEND as SCENE_BACKEND
from omnihuman_pipeline.scoring.scenes import SceneSplitter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoJob:
    """One input file: its id (content hash), its path and the path written to the table."""

    video_id: str
    path: str


@dataclass
class VideoResult:
    """What a worker sends back for one file."""

    video: dict[str, Any]
    clips: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def video_row(job: VideoJob, info: VideoInfo | None, status: str, error: str | None) -> dict[str, Any]:
    """A `videos` table row; media facts are NaN/0 when the file could not be probed."""
    facts = info.as_row() if info else {
        "duration_s": np.nan, "fps": np.nan, "width": 0, "height": 0, "rotation": 0,
        "has_audio": False, "audio_sr": 0, "codec": "", "n_frames": 0,
    }
    return {"video_id": job.video_id, "path": job.path, **facts, "status": status, "error": error}


def save_npz_atomic(path: Path, arrays: dict[str, Any]) -> None:
    """Write arrays to `path` (.npz) under a temporary name, then rename into place."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def remove_stale_arrays(folder: Path) -> None:
    """Delete the per-clip arrays (`*.npz`, and half-written `*.part`) an earlier analysis of this video left:
    clips of other settings may have other boundaries. Clip media stay: the media step versions them."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.endswith((".npz", ".npz.part")):
                path.unlink(missing_ok=True)


class _ClipBuilder:
    """Analysis frames of the clip being built."""

    def __init__(self, task: VideoTask, job: VideoJob, start: int):
        self.start, self.end = start, start
        self.clip_id = f"{job.video_id}-{start:06d}"
        self.folder = Path(task.config.clips_dir) / job.video_id
        self.analysis: list[np.ndarray] = []

    def add(self, analysis: np.ndarray) -> None:
        self.analysis.append(analysis)
        self.end += 1


class VideoTask:
    """Callable per-video work; construct in the worker, call `setup()` once, then call per job."""

    def __init__(self, config: CurateConfig):
        self.config = config
        self.scorers: list = []

    def setup(self) -> None:
        from omnihuman_pipeline.scoring.registry import build_scorers

        self.scorers = build_scorers(self.config.scorers)
        for scorer in self.scorers:
            scorer.setup()

    def __call__(self, job: VideoJob) -> VideoResult:
        started = time.perf_counter()
        try:
            result = self._run(job)
        except Exception as err:  # our own bug: record it, keep the run going
            logger.exception("video %s failed", job.path)
            tb = traceback.format_exception_only(type(err), err)[-1].strip()
            result = VideoResult(video_row(job, None, errors.FAILED, f"{tb}"))
        result.timings["total"] = time.perf_counter() - started
        return result

    def _run(self, job: VideoJob) -> VideoResult:
        media = self.config.media
        timings: dict[str, float] = {}
        t = time.perf_counter()
        try:
            info = probe(job.path, video_only=True)
        except errors.MediaError as err:
            return VideoResult(video_row(job, None, err.status, str(err)))
        timings["probe"] = time.perf_counter() - t
        if info.duration_s and info.duration_s < self.config.min_video_s:
            return VideoResult(video_row(job, info, errors.TOO_SHORT,
                                         f"{info.duration_s:.2f} s < {self.config.min_video_s} s"))
        t = time.perf_counter()
        audio, audio_error = (decode_audio(job.path, media.sample_rate) if info.has_audio else (None, None))
        timings["audio_decode"] = time.perf_counter() - t
        clips, decode_error, n_frames, clip_timings = self._split_and_score(job, info, audio)
        timings.update(clip_timings)
        status, error = errors.OK, audio_error
        decoded_s = n_frames / media.fps
        if decode_error:
            status, error = (errors.TRUNCATED if n_frames else errors.UNREADABLE), decode_error
        elif info.duration_s and decoded_s < self.config.min_decoded_share * info.duration_s - 1 / media.fps:
            # FFmpeg ends a cut-short file at the last whole packet without an error
            status, error = errors.TRUNCATED, f"decoded {decoded_s:.2f} s of {info.duration_s:.2f} s declared"
        elif decoded_s < self.config.min_video_s:
            status, error = errors.TOO_SHORT, f"{n_frames} frames at {media.fps} fps"
        row = video_row(job, info, status, error)
        return VideoResult(row, clips, timings)

    def _split_and_score(self, job: VideoJob, info: VideoInfo, audio: np.ndarray | None):
        media = self.config.media
        remove_stale_arrays(Path(self.config.clips_dir) / job.video_id)
        analysis_size = fit_short_side(info.width, info.height, media.analysis_short_side)
        splitter = SceneSplitter(self.config.scenes, media.fps)
        reader = FrameReader(job.path, fps=media.fps, analysis_size=analysis_size, rotation=info.rotation,
                             threads=media.decode_threads, small_size=splitter.detect_size(*analysis_size))
        timings = {"decode_split": 0.0, "score": 0.0}
        per_scorer: dict[str, float] = {}
        clips: list[dict[str, Any]] = []
        pending: deque = deque()
        current: _ClipBuilder | None = None
        boundary_kind = {0: "start"}

        def close(builder: _ClipBuilder) -> None:
            t0 = time.perf_counter()
            seg = None
            if audio is not None:
                seg = audio_segment(audio, media.sample_rate, builder.start / media.fps, builder.end / media.fps)
            row = self._score(job, builder, seg, boundary_kind.get(builder.start, "cut"), per_scorer)
            row["source_t0_s"] = reader.t0_s
            clips.append(row)
            timings["score"] += time.perf_counter() - t0

        def commit(frame) -> None:
            nonlocal current
            if current is not None and splitter.split_long(frame.index):
                boundary_kind[frame.index] = "length"
                close(current)
                current = None
            if current is None:
                current = _ClipBuilder(self, job, frame.index)
            current.add(frame.analysis)

        t_loop = time.perf_counter()
        for frame in reader:
            pending.append(frame)
            for cut in splitter.push(frame.index, frame.small):
                while pending and pending[0].index < cut:
                    commit(pending.popleft())
                if current is not None:
                    close(current)
                    current = None
                boundary_kind[cut] = "cut"
            while pending and pending[0].index <= frame.index - splitter.lag:
                commit(pending.popleft())
        while pending:
            commit(pending.popleft())
        if current is not None:
            close(current)
        timings["decode_split"] = time.perf_counter() - t_loop - timings["score"]
        timings.update({f"score_{k}": v for k, v in per_scorer.items()})
        n_frames = clips[-1]["end_frame"] if clips else 0
        return clips, reader.error, n_frames, timings

    def _score(self, job: VideoJob, builder: _ClipBuilder, seg: np.ndarray | None, boundary: str,
               per_scorer: dict[str, float]) -> dict[str, Any]:
        from omnihuman_pipeline.scoring.registry import score_clip

        media = self.config.media
        clip = AnalysisClip(np.stack(builder.analysis), media.fps, seg, media.sample_rate, builder.clip_id)
        arrays: dict[str, dict[str, Any]] = {}
        scores = score_clip(clip, self.scorers, arrays)
        for signal, named in arrays.items():
            path = builder.folder / f"{builder.clip_id}.{signal}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_npz_atomic(path, named)
            scores[f"{signal}_arrays"] = table_path(str(path))
        for key in [k for k in scores if k.startswith("timing_")]:
            per_scorer[key.removeprefix("timing_")] = per_scorer.get(key.removeprefix("timing_"), 0.0) + scores.pop(key)
        return {
            "clip_id": builder.clip_id,
            "video_id": job.video_id,
            "start_frame": builder.start,
            "end_frame": builder.end,
            "start_s": builder.start / media.fps,
            "end_s": builder.end / media.fps,
            "n_frames": builder.end - builder.start,
            "duration_s": (builder.end - builder.start) / media.fps,
            "boundary": boundary,
            "scene_backend": SCENE_BACKEND,
            "has_audio": seg is not None,
            **scores,
        }
