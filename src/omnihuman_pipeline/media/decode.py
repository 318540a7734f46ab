"""Decode video frames once, resampled to a constant frame rate, at two sizes; decode audio to mono."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SEEK_BACK_S = (0.0, 2.0, 10.0)  # a range read seeks this far before its first tick, in turn, then reads from 0


@dataclass
class ResampledFrame:
    """One output tick of the constant-rate stream.

    Attributes:
        index: tick number at the target rate (0-based).
        time_s: index / fps, seconds from the first decoded frame.
        analysis: RGB uint8 [h, w, 3] at the analysis size (what scorers read), or None when not requested.
        output: the frame at the clip size for the encoder, or None when not requested: an `av.VideoFrame` in
            yuv420p, upright (rotated plane by plane: no RGB round trip).
        small: RGB uint8 at the reader's `small_size` (scene detection), or None when not requested.
    """

    index: int
    time_s: float
    analysis: np.ndarray | None
    output: Any | None
    small: np.ndarray | None = None


def fit_short_side(width: int, height: int, short_side: int, *, even: bool = True,
                   upscale: bool = False) -> tuple[int, int]:
    """Size with the short side set to `short_side`, aspect kept.

    Args:
        width: source width in pixels.
        height: source height in pixels.
        short_side: target short side in pixels.
        even: round both sides to even numbers (H.264 with 4:2:0 chroma needs it).
        upscale: allow a result larger than the source.

    Returns:
        (width, height) of the result.
    """
    scale = short_side / min(width, height)
    if not upscale:
        scale = min(scale, 1.0)
    w, h = width * scale, height * scale
    step = 2 if even else 1
    return max(step, int(round(w / step)) * step), max(step, int(round(h / step)) * step)


def rotate_clockwise(image: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate an [H, W, C] image clockwise by a multiple of 90 degrees."""
    k = (degrees // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=-k)) if k else image


def rotate_yuv420p(frame, degrees: int):
    """Rotate a yuv420p `av.VideoFrame` (even width and height) clockwise by a multiple of 90 degrees.

    Each plane turns on its own, so the pixels stay those the scaler made: the encoder gets the same YUV as
    without rotation, and a reader of the source range (`media.clip_source`) the same as a reader of the clip.
    """
    import av

    k = (degrees // 90) % 4
    if not k:
        return frame
    w, h = frame.width, frame.height
    flat = frame.to_ndarray().reshape(-1)  # Y [h, w], then U and V [h/2, w/2], packed
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h: w * h * 5 // 4].reshape(h // 2, w // 2)
    v = flat[w * h * 5 // 4:].reshape(h // 2, w // 2)
    planes = [np.rot90(p, k=-k).reshape(-1) for p in (y, u, v)]
    nw, nh = (w, h) if k == 2 else (h, w)
    return av.VideoFrame.from_ndarray(np.concatenate(planes).reshape(nh * 3 // 2, nw), format="yuv420p")


def area_shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Box-average an [H, W, C] uint8 image down to `size` = (w, h): halvings while both sides are an even multiple
    of the target's (a box of boxes is a box: OpenCV's area resize by 2 costs a third of one by 4, and the halvings'
    rounding keeps the result within a level of it), then one area resize for what is left."""
    import cv2

    h, w = image.shape[:2]
    while w % (2 * size[0]) == 0 and h % (2 * size[1]) == 0:
        image = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    if (w, h) != tuple(size):
        image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)
    return image


class FrameReader:
    """Iterate a video as a constant-rate stream of frames, each decoded once.

    Nearest-frame resampling by presentation time turns variable or foreign frame rates into
    `fps` ticks (frames are repeated or dropped, never blended). Display rotation is applied.
    A decode error mid-stream ends the iteration; `error` then says what happened and
    `frames_read` how far it got, so callers keep the readable part.

    A range `[start, stop)` of ticks gives exactly the frames a read from the start gives those ticks: with
    `t0_s` (the first frame's time, which a full read leaves in `t0_s`) the reader seeks to the keyframe at or
    before tick `start` and decodes forward from there. Tick k takes the frame nearest to k / fps, so once the
    first decoded frame is at or before tick `start`, no later tick can take a frame before it; a seek that lands
    later is retried further back, then from the beginning. The range ends at `stop` even where the stream ends
    earlier: the last frame holds, as in the full read that found the range.

    Args:
        path: the video file.
        fps: target frame rate in Hz.
        analysis_size: (width, height) of `analysis` frames, after rotation; None to skip them.
        output_size: (width, height) of `output` frames, after rotation; None to skip them.
        rotation: clockwise display rotation in degrees (from `probe`).
        small_size: (width, height) of `small` frames, after rotation, area-averaged from the analysis frame;
            None to skip them.
        threads: let FFmpeg decode with frame/slice threads; False: one decoder thread. Curate runs one worker
            process per core, so its workers use one thread each: FFmpeg's threads make a decode alone 1.9x faster
            but gain nothing when the other core is busy (`benchmarks/core_contention.py`), and curate with one
            decoder and one swscale thread per worker ran 10.17 vs 10.45 s on the benchmark corpus (medians of 4,
            alternating in one invocation).
        start: first tick to yield.
        stop: tick to stop before; None: the end of the stream.
        t0_s: presentation time in seconds of the stream's first frame (tick 0); given with `start` > 0, the
            reader seeks instead of decoding from the beginning. None: learnt from the first frame.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, analysis_size: tuple[int, int] | None,
                 output_size: tuple[int, int] | None = None, rotation: int = 0, threads: bool = True,
                 small_size: tuple[int, int] | None = None, start: int = 0, stop: int | None = None,
                 t0_s: float | None = None):
        self.path, self.fps = str(path), fps
        self.analysis_size, self.output_size, self.small_size = analysis_size, output_size, small_size
        self.rotation, self.threads = rotation, threads
        self.start, self.stop, self.t0_s = start, stop, t0_s
        self.error: str | None = None
        self.frames_read = 0
        # one swscale context per target, reused across frames: `VideoFrame.reformat` builds a new
        # one per call, which cost 3-10x the scaling itself (1.8 vs 0.18 ms a frame, 720p source)
        self._scalers: dict[str, object] = {}

    def _scale(self, frame, name: str, **kwargs):
        from av.video.reformatter import VideoReformatter

        scaler = self._scalers.get(name)
        if scaler is None:
            scaler = self._scalers[name] = VideoReformatter()
        # one thread: a worker process per core already keeps every core busy, and swscale's default (a slice
        # thread per CPU) only adds hand-offs (see `threads` below)
        return scaler.reformat(frame, threads=1, **kwargs)

    def _frames(self, container, stream) -> Iterator[object]:
        import av

        try:
            for frame in container.decode(stream):
                if frame.time is not None:
                    self.frames_read += 1
                    yield frame
        except (av.FFmpegError, ValueError) as err:
            self.error = f"decode stopped after {self.frames_read} frames: {err}"
            logger.warning("%s: %s", self.path, self.error)

    def _open(self):
        import av

        container = av.open(self.path, metadata_errors="ignore")
        stream = container.streams.video[0]
        if self.threads:
            stream.thread_type = "AUTO"
        else:
            stream.codec_context.thread_count = 1
        return container, stream

    def _decoded(self) -> Iterator[tuple[float, object]]:
        import av

        seek = self.start > 0 and self.t0_s is not None
        wanted = (self.t0_s or 0.0) + self.start / self.fps  # presentation time of tick `start`
        for back_s in (SEEK_BACK_S if seek else ()) + (None,):
            self.error, self.frames_read = None, 0
            container, stream = self._open()
            with container:
                if back_s is not None:
                    try:
                        target = max(0.0, wanted - back_s) / float(stream.time_base)
                        container.seek(int(target), stream=stream, backward=True, any_frame=False)
                    except (av.FFmpegError, TypeError, ZeroDivisionError):  # no time base, unseekable
                        continue
                frames = self._frames(container, stream)
                first = next(frames, None)
                if back_s is not None and (first is None or first.time > wanted + 1e-9):
                    continue  # nothing decoded at or before tick `start`: further back, at last from the beginning
                if first is None:
                    return
                t0 = first.time if self.t0_s is None else self.t0_s
                self.t0_s = t0
                yield first.time - t0, first
                for frame in frames:
                    yield frame.time - t0, frame
                return

    def _coded(self, size: tuple[int, int]) -> tuple[int, int]:
        return size if self.rotation in (0, 180) else size[::-1]

    def _rgb(self, frame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """The analysis frame, and the small frame (None when not requested) box-averaged from it.

        swscale scales to planar RGB (`gbrp`), then packs it (an unscaled copy): its packed `rgb24` output straight
        from YUV keeps half the horizontal chroma resolution unless asked for full chroma interpolation, which costs
        more again. Against swscale's own float output (same AREA filter, full chroma), 720p source to 456x256:
        52.1 dB PSNR and at most 1.5 levels off, where packed `rgb24` gave 44.1 dB and up to 29 levels off at colour
        edges; 0.9 instead of 1.5 ms a frame in the decode loop, 720p source (`benchmarks/scaling.py --analysis`)."""
        w, h = self._coded(size)
        planar = self._scale(frame, "analysis", width=w, height=h, format="gbrp", interpolation="AREA")
        rgb = self._scale(planar, "packed", format="rgb24").to_ndarray()
        small = None
        if self.small_size:
            small = rotate_clockwise(area_shrink(rgb, self._coded(self.small_size)), self.rotation)
        return rotate_clockwise(rgb, self.rotation), small

    def _tick(self, index: int, frame) -> ResampledFrame:
        if not self.output_size:
            analysis, small = self._rgb(frame, self.analysis_size)
            return ResampledFrame(index, index / self.fps, analysis, None, small)
        # scale once to the clip size in YUV (what the encoder takes), then derive the analysis frame from that
        # smaller picture: swscale's cost follows the input size. AREA (swscale's box filter) each time:
        # measured on 720p camera-like frames, it is the fastest filter that does not alias and the closest to
        # a Lanczos reference (`benchmarks/scaling.py`)
        w, h = self._coded(self.output_size)
        output = self._scale(frame, "output", width=w, height=h, format="yuv420p", interpolation="AREA")
        analysis = small = None
        if self.analysis_size:
            analysis, small = self._rgb(output, self.analysis_size)
        return ResampledFrame(index, index / self.fps, analysis, rotate_yuv420p(output, self.rotation), small)

    def __iter__(self) -> Iterator[ResampledFrame]:
        tick, period = self.start, 1.0 / self.fps
        prev_t, prev = None, None
        intervals: list[float] = []
        for t, frame in self._decoded():
            if prev is not None:
                intervals.append(t - prev_t)
                midpoint = (prev_t + t) / 2
                while tick * period < midpoint - 1e-9 and (self.stop is None or tick < self.stop):
                    yield self._tick(tick, prev)
                    tick += 1
                if self.stop is not None and tick >= self.stop:
                    return
            prev_t, prev = t, frame
        if prev is None:
            return
        if self.stop is not None:  # the full read that found this range gave its last ticks this frame too
            while tick < self.stop:
                yield self._tick(tick, prev)
                tick += 1
            return
        last_duration = float(np.median(intervals)) if intervals else period
        end = prev_t + last_duration
        while tick * period < end - period / 2 + 1e-9 or tick == 0:
            yield self._tick(tick, prev)
            tick += 1


def decode_audio(path: str | os.PathLike, sample_rate: int = 16_000) -> tuple[np.ndarray, str | None]:
    """Decode the first audio stream to mono float32 at `sample_rate`.

    Returns:
        (samples [N] in [-1, 1], error or None). A decode error mid-stream keeps what was read.
    """
    import av

    chunks: list[np.ndarray] = []
    error = None
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        t0 = None
        try:
            for frame in container.decode(stream):
                if t0 is None and frame.time is not None:
                    t0 = frame.time
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.FFmpegError, ValueError) as err:
            error = f"audio decode stopped: {err}"
    audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    return audio, error


def audio_segment(audio: np.ndarray, sample_rate: int, start_s: float, end_s: float) -> np.ndarray:
    """Samples of [start_s, end_s), zero-padded when the audio track is shorter than the video."""
    a, b = int(round(start_s * sample_rate)), int(round(end_s * sample_rate))
    seg = audio[a:b]
    if len(seg) < b - a:
        seg = np.pad(seg, (0, b - a - len(seg)))
    return seg


def n_ticks(duration_s: float, fps: float) -> int:
    """Number of constant-rate frames a stream of `duration_s` yields."""
    return max(1, math.floor(duration_s * fps + 0.5))


def middle_frame(path: str | os.PathLike, short_side: int = 384) -> np.ndarray:
    """The frame at the middle of a video, uint8 RGB with the short side at most `short_side` px.

    Raises:
        MediaError / av.FFmpegError: the file cannot be read; ValueError: it has no frames.
    """
    from omnihuman_pipeline.media.probe import probe

    info = probe(path)
    fps = info.fps if info.fps and info.fps > 0 else 25.0
    middle = int(info.duration_s * fps / 2) if info.duration_s > 0 else 0
    size = fit_short_side(info.width, info.height, short_side, even=False)
    frame = None
    for tick in FrameReader(path, fps=fps, analysis_size=size, rotation=info.rotation):
        frame = tick.analysis
        if tick.index >= middle:
            break
    if frame is None:
        raise ValueError(f"{path}: no decodable frame")
    return frame
