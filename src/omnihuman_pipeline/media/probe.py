"""Container-level facts about a video file, read with PyAV (FFmpeg) and no full decode."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from omnihuman_pipeline.media.errors import EMPTY, NO_VIDEO_STREAM, UNREADABLE, MediaError

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class VideoInfo:
    """What the `videos` table records of one file.

    Attributes:
        duration_s: container duration in seconds (stream duration when the container has none).
        fps: average frame rate in Hz as stored; `resample_to_fps` decides the clip rate.
        width: display width in pixels, after rotation.
        height: display height in pixels, after rotation.
        rotation: clockwise display rotation in degrees (0, 90, 180, 270).
        has_audio: whether an audio stream exists.
        audio_sr: its sample rate in Hz, 0 without audio.
        codec: video codec name.
        n_frames: frame count when the container states it, else an estimate from duration × fps.
    """

    duration_s: float
    fps: float
    width: int
    height: int
    rotation: int
    has_audio: bool
    audio_sr: int
    codec: str
    n_frames: int

    def as_row(self) -> dict:
        return asdict(self)


def content_hash(path: str | os.PathLike, length: int = 16) -> str:
    """Blake2b of the file's bytes, hex, truncated to `length` characters: the `video_id`."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def display_rotation(frame_rotation: float | int) -> int:
    """Clockwise rotation in degrees to apply for display, from FFmpeg's counter-clockwise matrix angle."""
    return int(round(-float(frame_rotation))) % 360


def probe(path: str | os.PathLike, *, video_only: bool = False) -> VideoInfo:
    """Read a file's container facts; decode one frame to learn its rotation and prove it decodes.

    Args:
        path: the file.
        video_only: a still image (PNG, JPEG, ... under any extension) is `unreadable` (the raw-video scan);
            False reads it as a one-frame video (reference images).

    Raises:
        MediaError: with status `empty`, `unreadable` or `no_video_stream`.
    """
    import av

    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError(EMPTY, "zero-length file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(UNREADABLE, f"cannot open: {err}") from err
    with container:
        if video_only and (container.format.name.endswith("_pipe") or container.format.name == "image2"):
            raise MediaError(UNREADABLE, f"a still image ({container.format.name}), not a video")
        if not container.streams.video:
            kinds = ",".join(s.type for s in container.streams) or "none"
            raise MediaError(NO_VIDEO_STREAM, f"no video stream (streams: {kinds})")
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration_s = _duration_s(container, stream)
        try:
            first = next(container.decode(stream))
        except (av.FFmpegError, StopIteration) as err:
            raise MediaError(UNREADABLE, f"no decodable video frame: {err}") from err
        rotation = display_rotation(first.rotation)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        n_frames = stream.frames or int(round(duration_s * fps))
        return VideoInfo(
            duration_s=duration_s,
            fps=fps,
            width=width,
            height=height,
            rotation=rotation,
            has_audio=audio is not None,
            audio_sr=int(audio.rate or 0) if audio is not None else 0,
            codec=stream.codec_context.name,
            n_frames=int(n_frames),
        )


def _duration_s(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0
