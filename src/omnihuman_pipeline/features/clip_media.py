"""Decode one clip for feature caching: frames at the bucket size, trimmed to 1 + 4k, and its audio.

Rules (tested in tests/features/test_clip_media.py):

* **Resolution.** The short side becomes ``short_side`` and the long side keeps the aspect ratio;
  both are rounded to a multiple of ``multiple`` (16), never below it. Frames are resized, not cropped.
* **Length.** A causal VAE takes 1 + 4k frames. A clip of F decoded frames keeps its first
  ``1 + 4 * floor((F - 1) / 4)`` frames (the tail, at most 3 frames = 0.12 s, is dropped), capped by
  ``max_frames`` rounded down to 1 + 4k.
* **Audio.** The track is cut to the kept frames' duration ``F / fps`` seconds: a longer track is
  trimmed at the end, a shorter one (AAC priming, a cut-short stream) is padded with zeros at the end,
  so audio sample ``i * sr / fps`` starts video frame i. A clip without an audio track has no audio.
* **Source.** A clip is read from its media file, or, where curation wrote none, from its range of the source
  video (a `ClipSpan`): the frames curate would have written (`media.clip_source`), scaled the same way, so
  for a lossless clip file both give equal arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from omnihuman_pipeline.media.clip_source import ClipSpan
from omnihuman_pipeline.models.config import VAE_TEMPORAL_FACTOR


class ClipFeatureError(Exception):
    """A clip that cannot be cached, with the `status` it gets in the features table."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


MISSING_MEDIA = "missing_media"
DECODE_FAILED = "decode_failed"
TOO_SHORT = "too_short"


def bucket_size(width: int, height: int, short_side: int, multiple: int = 16) -> tuple[int, int]:
    """(width, height) with the short side at `short_side`, aspect kept, both multiples of `multiple`."""
    scale = short_side / min(width, height)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def usable_frames(n_frames: int, max_frames: int = 0, factor: int = VAE_TEMPORAL_FACTOR) -> int:
    """Largest 1 + factor*k <= min(n_frames, max_frames or inf); 0 when n_frames < 1."""
    if n_frames < 1:
        return 0
    n = min(n_frames, max_frames) if max_frames > 0 else n_frames
    return 1 + factor * ((n - 1) // factor)


def fit_audio(audio: np.ndarray, n_frames: int, fps: int, sample_rate: int) -> np.ndarray:
    """Trim or zero-pad (at the end) mono `audio` to exactly `n_frames / fps` seconds."""
    n = int(round(n_frames * sample_rate / fps))
    audio = np.asarray(audio, np.float32)[:n]
    return np.pad(audio, (0, n - len(audio))) if len(audio) < n else audio


@dataclass
class ClipVideo:
    """Decoded frames of one clip.

    Attributes:
        frames: RGB uint8 [F, H, W, 3], F = 1 + 4k, at the bucket size.
        decoded: frames the file gave before trimming.
    """

    frames: np.ndarray
    decoded: int


def _check_file(path: str | os.PathLike | ClipSpan | None) -> None:
    if path is None or path == "":
        raise ClipFeatureError(MISSING_MEDIA, "clip has neither a media file nor a source span")
    if isinstance(path, ClipSpan):
        path = path.source_path
    if not os.path.isfile(path):
        raise ClipFeatureError(MISSING_MEDIA, f"clip file not found: {path}")


def _span_frames(span: ClipSpan, size: tuple[int, int], fps: int, cap: int) -> list[np.ndarray]:
    from omnihuman_pipeline.media.clip_source import span_frames, to_rgb
    from omnihuman_pipeline.media.errors import MediaError

    if span.fps != fps:
        raise ClipFeatureError(DECODE_FAILED, f"source span at {span.fps} fps, features at {fps} fps: curate "
                                              "and features must use one frame rate")
    try:
        return to_rgb(span_frames(span, threads=True), size, limit=cap)
    except MediaError as err:
        raise ClipFeatureError(DECODE_FAILED, f"{err.status}: {err}") from err


def read_clip_video(path: str | os.PathLike | ClipSpan, *, short_side: int, multiple: int, fps: int,
                    max_frames: int, min_frames: int) -> ClipVideo:
    """Decode a clip (its file, or its source span) at its bucket size and keep the first 1 + 4k frames
    (module rules). Both scale the clip-size YUV frames the same way (`media.clip_source.to_rgb`)."""
    from omnihuman_pipeline.media.clip_source import to_rgb
    from omnihuman_pipeline.media.decode import FrameReader
    from omnihuman_pipeline.media.errors import MediaError
    from omnihuman_pipeline.media.probe import probe

    _check_file(path)
    cap = usable_frames(max_frames) if max_frames > 0 else 0
    error = None
    if isinstance(path, ClipSpan):
        frames = _span_frames(path, bucket_size(path.width, path.height, short_side, multiple), fps, cap)
    else:
        try:
            info = probe(path)
        except MediaError as err:
            raise ClipFeatureError(DECODE_FAILED, f"{err.status}: {err}") from err
        size = bucket_size(info.width, info.height, short_side, multiple)
        reader = FrameReader(path, fps=fps, analysis_size=None, output_size=(info.width, info.height),
                             rotation=info.rotation, threads=True)
        frames = to_rgb((tick.output for tick in reader), size, limit=cap)
        error = reader.error
    keep = usable_frames(len(frames), max_frames)
    if error and not frames:
        raise ClipFeatureError(DECODE_FAILED, error)
    if keep < max(1, min_frames):
        raise ClipFeatureError(TOO_SHORT, f"{len(frames)} decoded frames, need at least {min_frames}")
    return ClipVideo(np.stack(frames[:keep]), decoded=len(frames))


def read_clip_audio(path: str | os.PathLike | ClipSpan, *, n_frames: int, fps: int, sample_rate: int
                    ) -> np.ndarray | None:
    """Mono float32 audio of the first `n_frames` video frames (module rules); None without a track."""
    import av

    from omnihuman_pipeline.media.decode import decode_audio

    _check_file(path)
    if isinstance(path, ClipSpan):
        from omnihuman_pipeline.media.clip_source import span_audio
        from omnihuman_pipeline.media.errors import MediaError

        try:
            audio = span_audio(path, sample_rate)
        except (MediaError, av.FFmpegError) as err:
            raise ClipFeatureError(DECODE_FAILED, str(err)) from err
        return None if audio is None else fit_audio(audio, n_frames, fps, sample_rate)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
    except (av.FFmpegError, ValueError) as err:
        raise ClipFeatureError(DECODE_FAILED, f"cannot open: {err}") from err
    audio, error = decode_audio(path, sample_rate)
    if error and not len(audio):
        raise ClipFeatureError(DECODE_FAILED, error)
    return fit_audio(audio, n_frames, fps, sample_rate)


def reference_index(clip_id: str, n_frames: int, rule: str, seed: int) -> int:
    """Pixel frame used as the appearance reference.

    ``random``: uniform over the clip, seeded by (clip_id, seed) so it is the same on every run and
    machine; training then sees references that differ from frame 0, as the reference of a generated
    video need not be its first frame. ``first``: 0. ``middle``: F // 2.
    """
    if rule == "first":
        return 0
    if rule == "middle":
        return n_frames // 2
    if rule != "random":
        raise ValueError(f"unknown reference_frame rule {rule!r}: random | first | middle")
    import hashlib

    digest = hashlib.blake2b(f"{clip_id}:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_frames
