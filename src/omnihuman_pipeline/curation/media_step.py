"""Write the media of the clips worth keeping, after eligibility: rows first, media second.

The analysis pass decodes each video once at analysis resolution and leaves media alone; encoding every scene
clip at the clip size there cost several times the decode (x264 at 720p runs at about a fifth of the speed of
decoding it) while most clips are rejected. This step then writes, for the clips `media.write_clips` selects
(`eligible_T` by default, or any `eligible_<class>`, `all`, `none`), a 25 fps H.264 + 16 kHz mono AAC file from
the clip's span of its source (`media.clip_source`): seek to the keyframe before the clip, decode forward,
the same resample, rotation and scaling as a decode from the start, then the clip's x264 settings.

Why re-decode rather than keep the frames of the analysis decode: eligibility needs every clip's scores and the
thresholds, so the frames would have to wait at clip size (a 20 s clip at 720p is 0.7 GB of YUV) until after
the merge, and a threshold changed later would need them again anyway. A re-decode of the kept spans costs a
fraction of the encode it feeds (`docs/performance.md`), and it is the same code whether a clip is written now
or by a later run.

Each file is named by the clip and a hash of what it depends on (encoder settings, writer code, span), written
under a temporary name and renamed into place (`ClipWriter`), so a run killed at any point resumes, and a file
that exists is current. A clip that stops being selected keeps its file unless `media.gc`; files of clips no
longer in the table, or of other settings, are deleted. The table gets `media_path` for every clip (empty when
no file exists) and the span columns readers need without one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from omnihuman_pipeline.curation.config import MediaConfig, media_fingerprint, table_path
from omnihuman_pipeline.execution import map_unordered
from omnihuman_pipeline.media.clip_writer import ClipWriter
from omnihuman_pipeline.media.decode import FrameReader, audio_segment, decode_audio, fit_short_side
from omnihuman_pipeline.media.errors import MediaError
from omnihuman_pipeline.media.probe import probe

logger = logging.getLogger(__name__)

MODES = ("all", "none")  # besides eligible_<class>


def selected(clips: pd.DataFrame, write_clips: str) -> pd.Series:
    """Which clips `write_clips` asks media for: `all`, `none` or `eligible_<class>` (a column of `clips`).

    Raises:
        ValueError: another value, or an eligibility column the table does not have.
    """
    if write_clips == "all":
        return pd.Series(True, index=clips.index)
    if write_clips == "none":
        return pd.Series(False, index=clips.index)
    if not write_clips.startswith("eligible_"):
        raise ValueError(f"media.write_clips={write_clips!r}: use eligible_<class> (eligible_T), all or none")
    if write_clips not in clips:
        if not len(clips):
            return pd.Series(False, index=clips.index)
        raise ValueError(f"media.write_clips={write_clips!r}: the clips table has no such column "
                         f"(eligibility columns: {sorted(c for c in clips if c.startswith('eligible_'))})")
    return clips[write_clips].fillna(False).astype(bool)


def media_name(clip_id: str, end_frame: int, t0_s: float, fingerprint: str) -> str:
    """File name of a clip's media: the clip id and a hash of its span and of the media settings."""
    key = hashlib.sha1(f"{fingerprint}:{end_frame}:{t0_s!r}".encode()).hexdigest()[:10]
    return f"{clip_id}.{key}.mp4"


@dataclass(frozen=True)
class ClipToWrite:
    clip_id: str
    start_frame: int
    end_frame: int
    path: str
    has_audio: bool


@dataclass(frozen=True)
class MediaJob:
    """The clips of one source video whose media are missing."""

    video_id: str
    source_path: str
    t0_s: float
    clips: tuple[ClipToWrite, ...]


@dataclass
class MediaResult:
    errors: dict[str, str] = field(default_factory=dict)  # clip_id -> why no file was written
    timings: dict[str, float] = field(default_factory=dict)


class MediaTask:
    """Writes the clips of a `MediaJob`; one per worker (`execution.map_unordered`)."""

    def __init__(self, media: MediaConfig):
        self.media = media

    def setup(self) -> None:
        pass

    def __call__(self, job: MediaJob) -> MediaResult:
        media, result = self.media, MediaResult()
        timings = result.timings = {"media_probe_audio": 0.0, "media_decode": 0.0, "media_encode": 0.0}
        t = time.perf_counter()
        try:
            info = probe(job.source_path)
        except (MediaError, OSError) as err:
            return MediaResult({c.clip_id: f"source: {err}" for c in job.clips}, timings)
        audio = decode_audio(job.source_path, media.sample_rate)[0] if info.has_audio else None
        size = fit_short_side(info.width, info.height, media.clip_short_side)
        timings["media_probe_audio"] = time.perf_counter() - t
        for run in _adjacent_runs(job.clips):
            try:
                self._write_run(job, run, info.rotation, size, audio, timings)
            except Exception as err:  # noqa: BLE001  (one bad span keeps the others going)
                logger.warning("media of %s: %s", [c.clip_id for c in run], err)
                for clip in run:
                    if not Path(clip.path).exists():
                        result.errors[clip.clip_id] = f"{type(err).__name__}: {err}"
        return result

    def _write_run(self, job: MediaJob, run: list[ClipToWrite], rotation: int, size: tuple[int, int],
                   audio: np.ndarray | None, timings: dict[str, float]) -> None:
        """One decode from the keyframe before the first clip of `run` to the end of its last clip."""
        media = self.media
        reader = FrameReader(job.source_path, fps=media.fps, analysis_size=None, output_size=size,
                             rotation=rotation, threads=media.decode_threads, start=run[0].start_frame,
                             stop=run[-1].end_frame, t0_s=job.t0_s)
        clips, writer, current = iter(run), None, None
        started, encode = time.perf_counter(), 0.0
        try:
            for tick in reader:
                t = time.perf_counter()
                if writer is None or tick.index >= current.end_frame:
                    if writer is not None:
                        self._close(writer, current, audio)
                    current = next(clips)
                    writer = ClipWriter(current.path, width=size[0], height=size[1], fps=media.fps, crf=media.crf,
                                        preset=media.preset, sample_rate=media.sample_rate,
                                        with_audio=current.has_audio and audio is not None)
                writer.write(tick.output)
                encode += time.perf_counter() - t
            t = time.perf_counter()
            if writer is None or writer.n_frames != current.end_frame - current.start_frame or next(clips, None):
                raise ValueError(f"the source gave {reader.frames_read} frames for ticks [{run[0].start_frame}, "
                                 f"{run[-1].end_frame})" + (f": {reader.error}" if reader.error else ""))
            self._close(writer, current, audio)
            writer = None
            encode += time.perf_counter() - t
        finally:
            if writer is not None:
                writer.abort()
            timings["media_encode"] += encode
            timings["media_decode"] += time.perf_counter() - started - encode

    def _close(self, writer: ClipWriter, clip: ClipToWrite, audio: np.ndarray | None) -> None:
        seg = None
        if audio is not None:
            fps, sr = self.media.fps, self.media.sample_rate
            seg = audio_segment(audio, sr, clip.start_frame / fps, clip.end_frame / fps)
        writer.close(seg)


def _adjacent_runs(clips: tuple[ClipToWrite, ...]) -> list[list[ClipToWrite]]:
    """Clips in start order, grouped where one starts where the previous ends: one decode writes them all."""
    runs: list[list[ClipToWrite]] = []
    for clip in sorted(clips, key=lambda c: c.start_frame):
        if runs and runs[-1][-1].end_frame == clip.start_frame:
            runs[-1].append(clip)
        else:
            runs.append([clip])
    return runs


def _span_columns(clips: pd.DataFrame, videos: pd.DataFrame, media: MediaConfig) -> pd.DataFrame:
    """`source_path` and the clip media's rate and size (whether or not a file is written)."""
    facts = videos.drop_duplicates("video_id").set_index("video_id")
    out = clips.copy()
    out["source_path"] = out["video_id"].map(facts["path"]).fillna("").astype(str)
    sizes = {vid: fit_short_side(int(r["width"]), int(r["height"]), media.clip_short_side)
             for vid, r in facts.iterrows() if pd.notna(r["width"]) and pd.notna(r["height"]) and r["width"] > 0
             and r["height"] > 0}
    out["media_fps"] = media.fps
    out["media_width"] = out["video_id"].map(lambda v: sizes.get(v, (0, 0))[0]).astype(int)
    out["media_height"] = out["video_id"].map(lambda v: sizes.get(v, (0, 0))[1]).astype(int)
    return out


def write_clip_media(clips: pd.DataFrame, videos: pd.DataFrame, media: MediaConfig, clips_dir: str,
                     executor: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Write the missing media of the clips `media.write_clips` selects; set `media_path` on every clip.

    Args:
        clips: the clips table with eligibility (and `start_frame`, `end_frame`, `source_t0_s`).
        videos: the videos table (`video_id`, `path`, `width`, `height`).
        media: the media settings (`write_clips`, `gc`, encoder).
        clips_dir: folder of the clip media, one subfolder per video.
        executor: `{"name": "local"|"ray"|"serial", "workers": int, **options}`.

    Returns:
        The table with `source_path`, `media_fps`, `media_width`, `media_height`, `media_path` ("" where no file
        exists) and `media_error` (why a selected clip has none), and the summed seconds per media stage.
    """
    out = _span_columns(clips, videos, media)
    if not len(out):
        return out.assign(media_path="", media_error=None), {}
    wanted = selected(out, media.write_clips)
    fingerprint = media_fingerprint(media)
    root = Path(clips_dir)
    names = [media_name(c, e, t, fingerprint) for c, e, t in
             zip(out["clip_id"], out["end_frame"], out["source_t0_s"], strict=True)]
    paths = [root / v / n for v, n in zip(out["video_id"], names, strict=True)]
    exists = np.array([p.exists() for p in paths], bool)
    removed = _remove_stale(root, out, paths, keep=wanted.to_numpy() | (exists & (not media.gc)))
    exists &= ~np.isin([str(p) for p in paths], removed)

    todo = out.index[wanted.to_numpy() & ~exists & (out["media_width"] > 0).to_numpy()]
    jobs = []
    for video_id, rows in out.loc[todo].groupby("video_id", sort=False):
        first = rows.iloc[0]
        jobs.append(MediaJob(str(video_id), str(first["source_path"]), float(first["source_t0_s"]), tuple(
            ClipToWrite(str(r["clip_id"]), int(r["start_frame"]), int(r["end_frame"]),
                        str(paths[out.index.get_loc(i)]), bool(r["has_audio"])) for i, r in rows.iterrows())))
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    if jobs:
        options = {k: v for k, v in executor.items() if k not in ("name", "workers")}
        started = time.perf_counter()
        results = map_unordered(partial(MediaTask, media), jobs, executor=executor.get("name", "local"),
                                workers=executor.get("workers", 2), **options)
        for _, result in tqdm(results, total=len(jobs), desc="clip media", unit="video"):
            errors.update(result.errors)
            for key, seconds in result.timings.items():
                timings[key] = timings.get(key, 0.0) + seconds
        timings["media_wall"] = time.perf_counter() - started
    have = np.array([p.exists() for p in paths], bool)
    out["media_path"] = [table_path(str(p)) if h else "" for p, h in zip(paths, have, strict=True)]
    out["media_error"] = [errors.get(c) for c in out["clip_id"]]
    missing = out.index[wanted.to_numpy() & ~have]
    out.loc[missing, "media_error"] = out.loc[missing, "media_error"].fillna("no source frames")
    logger.info("clip media (%s): %d of %d clips selected, %d written now, %d kept from earlier runs, %d failed",
                media.write_clips, int(wanted.sum()), len(out), int((have & ~exists).sum()), int((exists & have).sum()),
                len(missing))
    return out, timings


def _remove_stale(root: Path, clips: pd.DataFrame, paths: list[Path], keep: np.ndarray) -> list[str]:
    """Delete, in the folders of the table's videos, clip media no row keeps: half-written files, files of other
    settings or of clips no longer in the table, and (with `gc`) of clips no longer selected."""
    kept = {str(p) for p, k in zip(paths, keep, strict=True) if k}
    removed = []
    for video_id in clips["video_id"].unique():
        folder = root / str(video_id)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.endswith(".mp4") and str(path) not in kept:
                path.unlink(missing_ok=True)
                removed.append(str(path))
    if removed:
        logger.info("clip media: removed %d stale or unselected file(s)", len(removed))
    return removed
