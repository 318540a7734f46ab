"""A clip's frames and audio read straight from its source video: the pictures curate writes to the clip file.

Curate finds clips in one decode of each video at analysis resolution and writes the media of only some of
them (`media.write_clips`); the clips table says where each clip lies in its source (`source_path`,
`source_t0_s`, `start_frame`, `end_frame`, `media_fps`, `media_width`, `media_height`). This module turns such
a row back into frames: `FrameReader` seeks to the keyframe before `start_frame` and decodes forward with the
same 25 fps resample, rotation and scaling as the analysis pass, so the clip writer (`curation.media_step`)
and a reader of a clip without media (features, captions, reports) see the same pictures. Scaled to another
size, the frames of a span equal those of its lossless clip file exactly (`tests/media/test_clip_source.py`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnihuman_pipeline.media.decode import FrameReader, audio_segment, decode_audio, fit_short_side
from omnihuman_pipeline.media.errors import UNREADABLE, MediaError

logger = logging.getLogger(__name__)

SPAN_COLUMNS = ("source_path", "source_t0_s", "start_frame", "end_frame", "media_fps", "media_width",
                "media_height")


@dataclass(frozen=True)
class ClipSpan:
    """Where a clip's frames are in its source video.

    Attributes:
        source_path: the source video file.
        start_frame: first tick of the clip on the source's constant-rate stream (0-based).
        end_frame: tick the clip ends before.
        fps: the stream's rate in Hz (curate's `media.fps`).
        t0_s: presentation time in seconds of the source's first frame (tick 0).
        width: clip width in pixels, upright.
        height: clip height in pixels, upright.
    """

    source_path: str
    start_frame: int
    end_frame: int
    fps: int
    t0_s: float
    width: int
    height: int

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    @classmethod
    def from_row(cls, row: Mapping[str, Any], root: str | None = None) -> ClipSpan | None:
        """The span of a clips-table row (a relative `source_path` is under `root`, default the working
        directory); None when the row lacks a column."""
        values = {c: row.get(c) for c in SPAN_COLUMNS}
        if any(v is None or (isinstance(v, float) and np.isnan(v)) or v == "" for v in values.values()):
            return None
        return cls(os.path.join(root or os.getcwd(), str(values["source_path"])), int(values["start_frame"]),
                   int(values["end_frame"]), int(values["media_fps"]), float(values["source_t0_s"]),
                   int(values["media_width"]), int(values["media_height"]))


def span_frames(span: ClipSpan, *, rotation: int | None = None, threads: bool = False) -> Iterator[Any]:
    """The clip's frames: `span.n_frames` yuv420p `av.VideoFrame`s at (width, height), upright.

    Args:
        span: the clip.
        rotation: the source's clockwise display rotation; None probes it.
        threads: FFmpeg decoder threads (see `FrameReader`).

    Raises:
        MediaError: the source cannot be read or gives no frame of the span.
    """
    if rotation is None:
        from omnihuman_pipeline.media.probe import probe

        rotation = probe(span.source_path).rotation
    reader = FrameReader(span.source_path, fps=span.fps, analysis_size=None, output_size=(span.width, span.height),
                         rotation=rotation, threads=threads, start=span.start_frame, stop=span.end_frame,
                         t0_s=span.t0_s)
    n = 0
    for tick in reader:
        n += 1
        yield tick.output
    if not n:
        raise MediaError(UNREADABLE, f"{span.source_path}: no frame in ticks [{span.start_frame}, {span.end_frame})"
                         + (f": {reader.error}" if reader.error else ""))


def to_rgb(frames: Iterator[Any], size: tuple[int, int], limit: int = 0) -> list[np.ndarray]:
    """Scale yuv420p frames to RGB uint8 [h, w, 3] at `size` = (w, h) (swscale AREA, one thread).

    Each frame is scaled from a plain copy of its pixels: a decoded frame carries properties a frame built in
    memory (a rotated one) lacks, and swscale reads them (the same pixels gave up to 25 levels apart), so
    frames of a span and the decoded frames of its lossless clip file give equal arrays only this way.

    Args:
        frames: yuv420p frames (`span_frames`, or a clip file's decoded frames).
        size: (width, height) of the result.
        limit: stop after this many frames (0: all).
    """
    import av
    from av.video.reformatter import VideoReformatter

    scaler = VideoReformatter()
    out = []
    for frame in frames:
        plain = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        out.append(scaler.reformat(plain, width=size[0], height=size[1], format="rgb24", interpolation="AREA",
                                   threads=1).to_ndarray())
        if limit and len(out) >= limit:
            break
    return out


@functools.lru_cache(maxsize=2)
def _source_audio(path: str, sample_rate: int, mtime_ns: int) -> tuple[np.ndarray | None, str | None]:
    import av

    with av.open(path, metadata_errors="ignore") as container:
        if not container.streams.audio:
            return None, None
    return decode_audio(path, sample_rate)


def span_audio(span: ClipSpan, sample_rate: int) -> np.ndarray | None:
    """The clip's mono float32 audio at `sample_rate`: the samples of [start, end) of the whole source track,
    zero-padded where the track is shorter, as curate cuts it; None when the source has no audio track.

    The source's decoded track is cached (two files): clips of one video come one after another."""
    audio, error = _source_audio(span.source_path, sample_rate, os.stat(span.source_path).st_mtime_ns)
    if audio is None:
        return None
    if error and not len(audio):
        raise MediaError(UNREADABLE, f"{span.source_path}: {error}")
    return audio_segment(audio, sample_rate, span.start_frame / span.fps, span.end_frame / span.fps)


def media_file(row: Mapping[str, Any], root: str | None = None) -> str | None:
    """The written media file of a clips-table row (`media_path`, relative to `root`), or None when curation
    wrote none for it."""
    value = row.get("media_path")
    return os.path.join(root or os.getcwd(), value) if isinstance(value, str) and value else None


def clip_audio(row: Mapping[str, Any], sample_rate: int, root: str | None = None) -> np.ndarray:
    """A clip's audio: from its media file when written, else from its source range (empty without a track).

    Raises:
        MediaError: neither media nor a readable source span.
    """
    path = media_file(row, root)
    if path:
        return decode_audio(path, sample_rate)[0]
    span = ClipSpan.from_row(row, root)
    if span is None:
        raise MediaError(UNREADABLE, f"clip {row.get('clip_id')}: no media_path and no source span")
    audio = span_audio(span, sample_rate)
    return np.zeros(0, np.float32) if audio is None else audio


def clip_middle_frame(row: Mapping[str, Any], short_side: int = 384, root: str | None = None) -> np.ndarray:
    """The middle frame of a clip, RGB uint8 with the short side at most `short_side`: from its media file when
    written, else from its source range.

    Raises:
        MediaError: neither media nor a readable source span.
    """
    from omnihuman_pipeline.media.decode import middle_frame

    path = media_file(row, root)
    if path:
        return middle_frame(path, short_side=short_side)
    span = ClipSpan.from_row(row, root)
    if span is None:
        raise MediaError(UNREADABLE, f"clip {row.get('clip_id')}: no media_path and no source span")
    middle = span.start_frame + span.n_frames // 2
    one = ClipSpan(span.source_path, middle, middle + 1, span.fps, span.t0_s, span.width, span.height)
    size = fit_short_side(span.width, span.height, short_side, even=False)
    return to_rgb(span_frames(one), size)[0]
