"""Typed views of the curate parameters and the hash that decides when a stored result is stale."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omnihuman_pipeline.scoring.scenes import SceneSplitConfig

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".mts",
                    ".flv", ".wmv", ".3gp", ".ogv")


CODE_PACKAGES = ("media", "scoring", "curation")


@functools.cache
def code_fingerprint() -> str:
    """Hash of the source of the packages that compute per-video results.

    Part of every shard's fingerprint, so results made by other code (a changed default, a fixed
    scorer) are recomputed instead of silently reused.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha1()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class MediaConfig:
    """How clips are decoded and written (`parameters_curate.yml: media`).

    Attributes:
        fps: clip frame rate in Hz (paper §4: 25 fps).
        sample_rate: clip audio rate in Hz (16 kHz mono, what speech models read).
        analysis_short_side: short side in pixels of the frames scorers read.
        clip_short_side: short side in pixels of the written clips (never upscaled).
        crf: x264 quality of the written clips.
        preset: x264 speed preset.
        extensions: file endings treated as videos when scanning the raw folder.
        decode_threads: let FFmpeg decode each video with frame/slice threads; off: one decoder thread per
            worker. Off by default: the executor already runs one worker process per core, and on top of that
            FFmpeg's threads only add hand-offs (`FrameReader`'s `threads`). Turn on for the `serial` executor.
    """

    fps: int = 25
    sample_rate: int = 16_000
    analysis_short_side: int = 256
    clip_short_side: int = 720
    crf: int = 20
    preset: str = "veryfast"
    extensions: list[str] = field(default_factory=lambda: list(VIDEO_EXTENSIONS))
    decode_threads: bool = False


@dataclass
class CurateConfig:
    """Everything the per-video task needs; its hash versions the stored results."""

    media: MediaConfig
    scenes: SceneSplitConfig
    scorers: dict[str, dict[str, Any]]
    clips_dir: str
    min_video_s: float = 0.5
    min_decoded_share: float = 0.9  # decoding less of the declared duration marks a file `truncated`

    @classmethod
    def from_params(cls, media: dict, scenes: dict, scorers: dict, clips_dir: str,
                    min_video_s: float = 0.5) -> CurateConfig:
        return cls(MediaConfig(**media), SceneSplitConfig(**scenes), scorers, clips_dir, min_video_s)

    def fingerprint(self) -> str:
        """Hash of what changes the per-video results: settings and the code that computes them.

        Thresholds are not part of it (eligibility is computed after the merge), so changing a
        threshold never re-decodes a video.
        """
        payload = {"media": asdict(self.media), "scenes": asdict(self.scenes), "scorers": self.scorers,
                   "min_video_s": self.min_video_s, "min_decoded_share": self.min_decoded_share,
                   "code": code_fingerprint()}
        for key in ("extensions", "decode_threads"):  # which files to scan, how fast: not what comes out
            payload["media"].pop(key)
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def table_path(path: str, root: str | None = None) -> str:
    """The path written to the table: relative to `root` (default: the working directory, i.e. the
    project root under `kedro run`) when the file is inside it, so tables stay valid when the
    project folder moves; absolute otherwise."""
    root = os.path.abspath(root or os.getcwd())
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else absolute
