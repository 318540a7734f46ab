"""Write a clip (RGB frames + mono audio) to an H.264/AAC MP4, atomically."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

AUDIO_CHUNK_S = 1  # seconds of audio handed to the encoder at a time


class ClipWriter:
    """Encode frames as they arrive; `close()` muxes the audio and renames the file into place.

    The file appears under its final name only when complete, so a killed run leaves no
    half-written clip behind (a stale `*.part.mp4` is overwritten by the next run).

    Args:
        path: final `.mp4` path.
        width: frame width in pixels (even).
        height: frame height in pixels (even).
        fps: frame rate in Hz.
        crf: x264 constant rate factor.
        preset: x264 preset.
        sample_rate: audio rate in Hz for `close(audio=...)`.
        with_audio: add an AAC mono stream, filled by `close(audio=...)`.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps: int = 25, crf: int = 20,
                 preset: str = "veryfast", sample_rate: int = 16_000, with_audio: bool = False):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.stem + ".part.mp4")
        self._container = av.open(str(self._tmp), mode="w")
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._video.thread_count = 1  # parallelism comes from one worker process per video
        self._time_base = Fraction(1, fps)
        self.sample_rate = sample_rate
        # every stream must exist before the first packet is muxed (FFmpeg writes the header then)
        self._audio = self._container.add_stream("aac", rate=sample_rate, layout="mono") if with_audio else None
        self.n_frames = 0

    def write(self, frame) -> None:
        """Append one frame: RGB uint8 [H, W, 3] or an `av.VideoFrame` of the writer's size."""
        import av

        if isinstance(frame, np.ndarray):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        frame.pts, frame.time_base = self.n_frames, self._time_base
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.n_frames += 1

    def close(self, audio: np.ndarray | None = None) -> Path:
        """Flush video, encode `audio` (mono float32 at `sample_rate`) as AAC, and move into place."""
        import av

        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio is not None:
            audio = np.zeros(1024, np.float32) if audio is None or not len(audio) else audio
            chunk = AUDIO_CHUNK_S * self.sample_rate  # a second at a time: no full-length copies of a long track
            for start in range(0, len(audio), chunk):
                samples = np.ascontiguousarray(np.clip(audio[start:start + chunk], -1, 1).astype(np.float32)[None, :])
                frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                frame.sample_rate, frame.pts = self.sample_rate, start
                for packet in self._audio.encode(frame):
                    self._container.mux(packet)
            for packet in self._audio.encode():
                self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)
