"""Write synthetic frames and audio to real media files with PyAV (its bundled FFmpeg; no CLI).

The container follows the file extension. Defaults that decode everywhere and take odd sizes:

| ext          | video codec (pix_fmt)                                  | audio codec    |
|--------------|--------------------------------------------------------|----------------|
| .mp4 / .mov  | libx264 (yuv420p; yuv444p when width or height is odd) | aac            |
| .mkv         | libx264 (same rule)                                    | aac            |
| .webm        | libvpx-vp9 (yuv420p)                                   | libopus        |
| .avi         | mpeg4 (yuv420p)                                        | libmp3lame     |

Rotation: ``rotation`` is written with PyAV 18's ``VideoStream.set_display_rotation`` (an
``AV_PKT_DATA_DISPLAYMATRIX`` coded side data, stored by the mp4/mov muxer as the ``tkhd`` matrix).
It is read back by decoding: ``VideoFrame.rotation`` (degrees counterclockwise, FFmpeg's
``av_display_rotation_get`` convention; a portrait phone clip reports -90), and the raw matrix is
``frame.side_data`` entry of type ``DISPLAYMATRIX``. PyAV 18 exposes no stream-level side data, so
:func:`read_rotation` decodes one frame.

Determinism: muxers run with ``fflags=+bitexact`` (no random matroska UIDs, no version strings),
x264 with a fixed thread count and ``mbtree=0`` (with mbtree on, identical input gave different
bytes on about 1 run in 10), so the same frames give the same bytes with the same FFmpeg build.
Measured for every container/codec used by the corpus (x264, mpeg4, VP9, AAC, Opus, MP3).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

# Fixed so that the bytes do not depend on the machine's core count.
ENCODER_THREADS = 2
VFR_TIME_BASE = Fraction(1, 90_000)  # MPEG system clock, the usual choice for VFR timestamps

_DEFAULT_CODECS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".avi": ("mpeg4", "libmp3lame"),
    ".m4a": ("", "aac"),
}
# No random matroska UIDs, no library-version strings: the same streams give the same file bytes.
_BITEXACT = {"fflags": "+bitexact"}
# The muxer name when the extension alone is ambiguous for FFmpeg's guesser.
_FORMAT_BY_EXT = {".mp4": "mp4", ".m4v": "mp4", ".m4a": "mp4", ".mov": "mov", ".mkv": "matroska",
                  ".webm": "webm", ".avi": "avi"}


@dataclass(frozen=True)
class WrittenFile:
    """What :func:`write_video` / :func:`write_audio` put on disk."""

    path: Path
    video_codec: str | None
    pix_fmt: str | None
    audio_codec: str | None
    n_frames: int
    duration_s: float  # end of the last video frame (or audio length when there is no video)
    size_bytes: int


def _ext(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in _DEFAULT_CODECS:
        raise ValueError(f"unsupported extension {ext!r}; use one of {sorted(_DEFAULT_CODECS)}")
    return ext


def _audio_2d(audio: np.ndarray) -> np.ndarray:
    """``[N]`` or ``[N, C]`` float -> ``[C, N]`` float32 planar."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2):
        raise ValueError(f"audio must be [N] or [N, 1|2], got {a.shape}")
    return np.ascontiguousarray(a.T)


def _add_audio_stream(container, codec: str, sample_rate: int, channels: int):
    stream = container.add_stream(codec, rate=sample_rate, layout="mono" if channels == 1 else "stereo")
    if codec == "aac":
        stream.bit_rate = 64_000 * channels
    stream.codec_context.thread_count = 1
    return stream


def _audio_frames(audio_cn: np.ndarray, sample_rate: int, chunk: int = 1024):
    """Planar float frames with sample-count pts; PyAV rebuffers them to the encoder's frame size."""
    import av

    layout = "mono" if audio_cn.shape[0] == 1 else "stereo"
    for start in range(0, audio_cn.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio_cn[:, start : start + chunk]),
                                           format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        yield start / sample_rate, frame


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    fps: int = 25,
    timestamps_s: Sequence[float] | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 48_000,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    pix_fmt: str | None = None,
    crf: int = 18,
    preset: str = "veryfast",
    rotation: int = 0,
    faststart: bool = False,
) -> WrittenFile:
    """Encode RGB frames (and optional audio) into one file whose container follows the extension.

    Args:
        path: output file; parent folders are created. Written in place (callers wanting
            atomicity write to a temporary name and rename).
        frames: ``uint8`` RGB ``[T, H, W, 3]``, the *coded* orientation (see :func:`coded_from_display`).
        fps: nominal frame rate; with ``timestamps_s`` unset the file is constant-frame-rate.
        timestamps_s: per-frame presentation times in seconds (strictly increasing, first 0) for a
            variable-frame-rate file; stored as pts in a 1/90000 time base.
        audio: ``float32`` in [-1, 1], ``[N]`` (mono) or ``[N, 2]`` (stereo); ``None`` for no track.
        sample_rate: audio sample rate, Hz (44100 / 48000 for AAC; libopus needs 48000).
        video_codec: FFmpeg encoder name; default by extension (module docstring).
        audio_codec: FFmpeg encoder name; default by extension.
        pix_fmt: default ``yuv420p``, or ``yuv444p`` for libx264 at odd width/height.
        crf: x264 / VP9 constant quality (lower is better; 18 is visually lossless).
        preset: x264 preset.
        rotation: display rotation, degrees counterclockwise as FFmpeg reports it (0, ±90, 180).
        faststart: put the mp4/mov ``moov`` index before the media data.

    Returns:
        :class:`WrittenFile` describing the result.
    """
    import av

    path = Path(path)
    ext = _ext(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    n, h, w = frames.shape[:3]
    vcodec = video_codec or _DEFAULT_CODECS[ext][0]
    acodec = audio_codec or _DEFAULT_CODECS[ext][1]
    if pix_fmt is None:
        pix_fmt = "yuv444p" if vcodec == "libx264" and (w % 2 or h % 2) else "yuv420p"
    if timestamps_s is not None:
        ts = np.asarray(timestamps_s, dtype=np.float64)
        if len(ts) != n or ts[0] != 0 or np.any(np.diff(ts) <= 0):
            raise ValueError("timestamps_s must have one strictly increasing entry per frame, starting at 0")
        pts = np.rint(ts * VFR_TIME_BASE.denominator / VFR_TIME_BASE.numerator).astype(np.int64)
        last_dt = float(np.median(np.diff(ts))) if n > 1 else 1.0 / fps
        end_s = float(ts[-1]) + last_dt
        time_base = VFR_TIME_BASE
    else:
        pts = np.arange(n, dtype=np.int64)
        end_s = n / fps
        time_base = Fraction(1, fps)

    options: dict[str, str] = {}
    container_options = dict(_BITEXACT)
    if faststart and ext in (".mp4", ".mov", ".m4v"):
        container_options["movflags"] = "+faststart"
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=_FORMAT_BY_EXT[ext], options=container_options) as container:
        vs = container.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = time_base
        vs.time_base = time_base
        vs.codec_context.thread_count = ENCODER_THREADS
        if vcodec == "libx264":
            # mbtree reads uninitialised frame padding through x264's SIMD lowres path: with it on,
            # identical input gives different bytes on ~1 run in 10 (measured, x264 in PyAV 18.1).
            options.update({"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"})
        elif vcodec == "libvpx-vp9":
            options.update(crf=str(crf + 12), **{"b": "0", "deadline": "realtime", "cpu-used": "8",
                                                 "row-mt": "0"})
        elif vcodec == "mpeg4":
            vs.bit_rate = 40 * w * h  # ~3 Mbit/s at 320x256: no visible blocking
        vs.options = options
        if rotation:
            vs.set_display_rotation(rotation)

        audio_iter = None
        pending_audio: tuple[float, object] | None = None
        astream = None
        if audio is not None:
            acn = _audio_2d(audio)
            astream = _add_audio_stream(container, acodec, sample_rate, acn.shape[0])
            audio_iter = _audio_frames(acn, sample_rate)
            pending_audio = next(audio_iter, None)

        # Interleave by time ourselves so a cut file still holds both tracks up to the cut.
        for i in range(n):
            t_frame = float(pts[i] * time_base)
            while astream is not None and pending_audio is not None and pending_audio[0] <= t_frame:
                for packet in astream.encode(pending_audio[1]):
                    container.mux(packet)
                pending_audio = next(audio_iter, None)
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = int(pts[i])
            frame.time_base = time_base
            for packet in vs.encode(frame):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if astream is not None:
            while pending_audio is not None:
                for packet in astream.encode(pending_audio[1]):
                    container.mux(packet)
                pending_audio = next(audio_iter, None)
            for packet in astream.encode():
                container.mux(packet)
    return WrittenFile(path, vcodec, pix_fmt, acodec if audio is not None else None, n, end_s,
                       path.stat().st_size)


def write_audio(
    path: str | os.PathLike, audio: np.ndarray, *, sample_rate: int = 44_100, audio_codec: str | None = None
) -> WrittenFile:
    """Write an audio-only file (e.g. AAC in ``.mp4``: a container with no video stream).

    Args:
        path: output file (extension picks the container).
        audio: ``float32`` ``[N]`` or ``[N, 2]`` in [-1, 1].
        sample_rate: Hz.
        audio_codec: encoder; default by extension.

    Returns:
        :class:`WrittenFile` with ``n_frames == 0`` and no video codec.
    """
    import av

    path = Path(path)
    ext = _ext(path)
    acodec = audio_codec or _DEFAULT_CODECS[ext][1]
    acn = _audio_2d(audio)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=_FORMAT_BY_EXT[ext], options=dict(_BITEXACT)) as container:
        stream = _add_audio_stream(container, acodec, sample_rate, acn.shape[0])
        for _, frame in _audio_frames(acn, sample_rate):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return WrittenFile(path, None, None, acodec, 0, acn.shape[1] / sample_rate, path.stat().st_size)


def coded_from_display(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Frames to encode so that a player applying display ``rotation`` shows ``frames`` upright.

    Args:
        frames: ``[T, H, W, 3]`` as they should be displayed.
        rotation: degrees counterclockwise (FFmpeg convention), a multiple of 90.

    Returns:
        ``[T, W, H, 3]`` for ±90, otherwise ``[T, H, W, 3]``.
    """
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    return np.ascontiguousarray(np.rot90(frames, k=-(rotation // 90), axes=(1, 2)))


def display_from_coded(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Inverse of :func:`coded_from_display`: apply the display matrix to decoded frames."""
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    return np.ascontiguousarray(np.rot90(frames, k=rotation // 90, axes=(1, 2)))


def read_rotation(path: str | os.PathLike) -> int:
    """Display rotation of the first video stream, degrees counterclockwise (0 when none).

    Decodes one frame and reads ``VideoFrame.rotation`` (FFmpeg attaches the stream's display
    matrix to every decoded frame); PyAV 18 has no stream-level side-data accessor.
    """
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return int(round(frame.rotation))
    return 0


def truncate_copy(src: str | os.PathLike, dst: str | os.PathLike, fraction: float) -> int:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a download cut short).

    Returns:
        Number of bytes written.
    """
    data = Path(src).read_bytes()
    keep = int(len(data) * fraction)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(data[:keep])
    return keep


def corrupt_copy(src: str | os.PathLike, dst: str | os.PathLike, *, keep_head: int, seed: int = 0) -> int:
    """Copy ``src`` keeping its first ``keep_head`` bytes and replacing the rest with random bytes.

    With ``keep_head`` covering the mp4 ``ftyp`` box, the file sniffs as mp4 but has no valid index.

    Returns:
        Number of bytes written.
    """
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    data[keep_head:] = rng.integers(0, 256, len(data) - keep_head, dtype=np.uint8).tobytes()
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(bytes(data))
    return len(data)
