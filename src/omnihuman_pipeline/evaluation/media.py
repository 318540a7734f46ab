"""Test videos as the metrics see them: decoded at the checkpoint's bucket, 25 fps, 1 + 4k frames, 16 kHz audio.

Real and generated videos are compared at the same resolution, the bucket the checkpoint was trained at
(``features.clip_media`` rules: short side ``short_side``, aspect kept, sides multiples of ``multiple``). A test
set can hold hundreds of long videos, so :class:`FileVideoItem` keeps only paths and decodes frames when a metric
asks for them; a small cache holds the last few decodes, since the suite scores one video after another for each
metric. A clip curation wrote no file for is read from its span of the source video (a ``ClipSpan``), with the
frames and audio the features pipeline reads from it (``features.clip_media``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from omnihuman_pipeline.features.clip_media import ClipFeatureError, read_clip_audio, read_clip_video
from omnihuman_pipeline.media.clip_source import ClipSpan

VIDEO_FPS, AUDIO_SR = 25, 16_000
DECODE_CACHE = 4  # decoded videos kept: a metric reads a test video's generated and real frames, then the next's


class TestVideoError(Exception):
    """A test video that cannot be evaluated; the message is its per-video reason (``<status>: <detail>``)."""

    __test__ = False


@dataclass(frozen=True)
class Bucket:
    """The frame size rule of a checkpoint (its card's ``features.video``) and the frame rate."""

    short_side: int
    multiple: int = 16
    fps: int = VIDEO_FPS


@dataclass
class RealVideo:
    """What evaluation keeps of a decoded test video (not its frames).

    Attributes:
        n_frames: frames compared (1 + 4k, at most the cap).
        height: frame height at the bucket, pixels.
        width: frame width at the bucket, pixels.
        reference: the first frame, RGB uint8 [H, W, 3] (the reference image).
        audio: mono float32 at 16 kHz, exactly ``n_frames / fps`` s, or None without an audio track.
    """

    n_frames: int
    height: int
    width: int
    reference: np.ndarray
    audio: np.ndarray | None


def read_real_video(path: str | ClipSpan, bucket: Bucket, max_frames: int) -> RealVideo:
    """Decode a test video (a file, or a clip's source span) at the bucket size (first ``max_frames`` frames,
    trimmed to 1 + 4k) and its audio.

    Raises:
        TestVideoError: missing, undecodable or empty (``missing_media`` / ``decode_failed`` / ``too_short``).
    """
    frames = video_frames(path, bucket, max_frames)
    try:
        audio = read_clip_audio(path, n_frames=len(frames), fps=bucket.fps, sample_rate=AUDIO_SR)
    except ClipFeatureError as err:
        raise TestVideoError(f"{err.status}: audio: {err}") from None
    return RealVideo(len(frames), frames.shape[1], frames.shape[2], frames[0].copy(), audio)


def video_frames(path: str | ClipSpan, bucket: Bucket, max_frames: int) -> np.ndarray:
    """RGB uint8 frames [F, H, W, 3] of a video (a file, or a clip's source span) at the bucket size,
    F = 1 + 4k <= ``max_frames`` (cached).

    Raises:
        TestVideoError: as :func:`read_real_video`.
    """
    file = path.source_path if isinstance(path, ClipSpan) else path
    try:
        stat = os.stat(file)
    except OSError:
        raise TestVideoError(f"missing_media: file not found: {file}") from None
    return _decode(path if isinstance(path, ClipSpan) else str(path), stat.st_mtime_ns, stat.st_size, bucket,
                   int(max_frames))


@functools.lru_cache(maxsize=DECODE_CACHE)
def _decode(path: str | ClipSpan, mtime_ns: int, size: int, bucket: Bucket, max_frames: int) -> np.ndarray:
    try:
        clip = read_clip_video(path, short_side=bucket.short_side, multiple=bucket.multiple, fps=bucket.fps,
                               max_frames=max_frames, min_frames=1)
    except ClipFeatureError as err:
        raise TestVideoError(f"{err.status}: {err}") from None
    except Exception as err:  # PyAV and FFmpeg raise many kinds on broken files: all mean "cannot decode"
        raise TestVideoError(f"decode_failed: {type(err).__name__}: {err}") from None
    return clip.frames


class FileVideoItem:
    """A :class:`~omnihuman_pipeline.metrics.base.VideoItem` whose frames are decoded from files on access.

    Args:
        video_id: the test video's id.
        generated: path of the generated video.
        real: path of the real video, or its source span.
        bucket: the size both are decoded at.
        n_frames: frames compared.
        audio: the driving audio (mono float32 at ``sample_rate``), or None.
        reference: the reference image generation was given (RGB uint8 [H, W, 3]), or None.
    """

    sample_rate = AUDIO_SR

    def __init__(self, video_id: str, generated: str, real: str | ClipSpan, bucket: Bucket, n_frames: int,
                 audio: np.ndarray | None, reference: np.ndarray | None = None):
        self.video_id, self._generated, self._real = video_id, generated, real
        self._bucket, self._n = bucket, n_frames
        self.audio, self.reference = audio, reference
        self.fps = float(bucket.fps)

    @property
    def generated(self) -> np.ndarray:
        """Generated frames uint8 [T, H, W, 3]."""
        return video_frames(self._generated, self._bucket, self._n)

    @property
    def real(self) -> np.ndarray:
        """Real frames uint8 [T, H, W, 3] at the same size."""
        return video_frames(self._real, self._bucket, self._n)

    def __repr__(self) -> str:
        return f"FileVideoItem({self.video_id!r}, generated={self._generated!r}, real={self._real!r})"
