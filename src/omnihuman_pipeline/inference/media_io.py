"""Generation's inputs and output through PyAV: reference image, driving audio, pose, the mp4.

Every reader turns an unusable file into a :class:`GenerationError` that names the file and what to
give instead. Sizes follow the features pipeline's rules (``features.clip_media``): the reference is
resized (not cropped) to the checkpoint's bucket, audio is mono 16 kHz, and the driving signals are
fitted to the output's frame count at 25 fps.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from omnihuman_pipeline.inference.conditions import GenerationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _exists(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise GenerationError(f"{what} file not found: {p}")
    return p


def read_image(path: str | os.PathLike, size: tuple[int, int] | None = None, frame: int = 0,
               short_side: int | None = None, multiple: int = 16) -> np.ndarray:
    """The reference image: a picture, or frame ``frame`` of a video, RGB uint8 [H, W, 3].

    Args:
        path: image or video file.
        size: (width, height) to resize to; None with ``short_side`` set: the features bucket
            (short side ``short_side``, aspect kept, both sides multiples of ``multiple``); None and
            None: the stored size.
        frame: frame index for a video (at 25 fps).
        short_side: bucket short side in pixels.
        multiple: bucket rounding.

    Returns:
        The frame after display rotation and resizing.

    Raises:
        GenerationError: missing, undecodable, or shorter than ``frame``.
    """
    from omnihuman_pipeline.features.clip_media import bucket_size
    from omnihuman_pipeline.media.decode import FrameReader
    from omnihuman_pipeline.media.errors import MediaError
    from omnihuman_pipeline.media.probe import probe

    p = _exists(path, "reference image")
    try:
        info = probe(p)
    except (MediaError, OSError, ValueError) as err:
        raise GenerationError(f"reference image {p} cannot be decoded ({err}); give a PNG/JPEG picture or a "
                              "video") from None
    if size is None:
        size = bucket_size(info.width, info.height, short_side, multiple) if short_side else (info.width,
                                                                                               info.height)
    reader = FrameReader(p, fps=25.0, analysis_size=size, rotation=info.rotation)
    for tick in reader:
        if tick.index >= frame:
            return tick.analysis
    raise GenerationError(f"reference image {p}: no decodable frame {frame} ({reader.error or 'too short'})")


def read_audio(path: str | os.PathLike, sample_rate: int = 16_000) -> np.ndarray:
    """The driving audio, mono float32 at ``sample_rate``.

    Raises:
        GenerationError: missing, not decodable, without an audio stream, or empty.
    """
    import av

    from omnihuman_pipeline.media.decode import decode_audio

    p = _exists(path, "audio")
    hint = "give a WAV/MP3/M4A/FLAC file or a video with an audio track"
    try:
        with av.open(str(p), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise GenerationError(f"audio {p} has no audio stream; {hint}")
        audio, error = decode_audio(p, sample_rate)
    except (av.FFmpegError, ValueError, IndexError) as err:
        if isinstance(err, GenerationError):
            raise
        raise GenerationError(f"audio {p} is not decodable ({err}); {hint}") from None
    if not len(audio):
        raise GenerationError(f"audio {p} decoded to no samples ({error or 'empty stream'}); {hint}")
    return audio


def read_mask_image(path: str | os.PathLike) -> np.ndarray:
    """A speaker-mask picture, RGB uint8 [H, W, 3] at its stored size."""
    return read_image(_exists(path, "speaker mask"))


def read_pose_maps(path: str | os.PathLike, n_frames: int, width: int, height: int,
                   pose_settings: dict | None = None) -> np.ndarray:
    """Skeleton maps RGB uint8 [n_frames, height, width, 3] from keypoints (.npz) or a skeleton video.

    A ``.npz`` holds curate's pose arrays (``frame_index``, ``body`` [T', 18, 3], optional ``hands``
    [T', 2, 21, 3], x/y as frame fractions); they are interpolated to every frame and drawn as the
    features loader draws training maps (``features.pose_maps``, with the checkpoint's pose settings).
    A video is read at 25 fps and resized to the output size.

    Args:
        path: the pose file.
        n_frames: frames needed.
        width: output width in pixels.
        height: output height in pixels.
        pose_settings: the card's ``features.pose`` settings (max_gap, min_confidence, stick_width,
            joint_radius, hands).

    Raises:
        GenerationError: unreadable, or a video shorter than ``n_frames``.
    """
    from omnihuman_pipeline.features.pose_maps import load_pose_arrays, render_pose_maps

    p = _exists(path, "pose")
    s = {"max_gap": 25, "min_confidence": 0.3, "stick_width": 4, "joint_radius": 4, "hands": True,
         **(pose_settings or {})}
    if p.suffix.lower() == ".npz":
        try:
            body, hands = load_pose_arrays(p, n_frames, int(s["max_gap"]))
        except (KeyError, ValueError, OSError) as err:
            raise GenerationError(f"pose {p} is not a pose-arrays file ({err}); give curate's <clip>.pose.npz "
                                  "(frame_index, body, hands) or a skeleton video") from None
        return render_pose_maps(body, hands, width, height, min_confidence=s["min_confidence"],
                                stick_width=s["stick_width"], joint_radius=s["joint_radius"],
                                draw_hands=bool(s["hands"]))
    frames = _read_video_frames(p, n_frames, width, height)
    if len(frames) < n_frames:
        raise GenerationError(f"pose video {p} has {len(frames)} frames at 25 fps but {n_frames} are needed: give "
                              f"a longer skeleton video or fewer seconds")
    return np.stack(frames)


def _read_video_frames(path: Path, n_frames: int, width: int, height: int) -> list[np.ndarray]:
    from omnihuman_pipeline.media.decode import FrameReader
    from omnihuman_pipeline.media.errors import MediaError
    from omnihuman_pipeline.media.probe import probe

    try:
        info = probe(path)
    except (MediaError, OSError, ValueError) as err:
        raise GenerationError(f"pose video {path} cannot be decoded ({err})") from None
    frames = []
    for tick in FrameReader(path, fps=25.0, analysis_size=(width, height), rotation=info.rotation):
        frames.append(tick.analysis)
        if len(frames) >= n_frames:
            break
    return frames


def write_video(path: str | os.PathLike, frames: np.ndarray, audio: np.ndarray | None, *, fps: int = 25,
                sample_rate: int = 16_000, crf: int = 18, preset: str = "veryfast") -> Path:
    """Encode RGB uint8 frames [F, H, W, 3] and mono audio as H.264/AAC mp4, atomically.

    Args:
        path: final ``.mp4`` path (its folder is created).
        frames: the video.
        audio: float32 samples at ``sample_rate`` (already fitted to ``F / fps`` seconds), or None.
        fps: frame rate in Hz.
        sample_rate: audio rate in Hz.
        crf: x264 quality.
        preset: x264 preset.

    Returns:
        The written path.
    """
    from omnihuman_pipeline.media.clip_writer import ClipWriter

    height, width = frames.shape[1:3]
    writer = ClipWriter(path, width=width, height=height, fps=fps, crf=crf, preset=preset,
                        sample_rate=sample_rate, with_audio=audio is not None)
    try:
        for frame in frames:
            writer.write(frame)
        return writer.close(audio)
    except BaseException:
        writer.abort()
        raise
