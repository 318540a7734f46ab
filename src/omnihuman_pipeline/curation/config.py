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
# what writes clip media after the analysis: it versions the media (`media_fingerprint`), not the scores
MEDIA_CODE = ("media/clip_writer.py", "media/clip_source.py", "media/decode.py", "curation/media_step.py")


def _hash_sources(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha1()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def code_fingerprint() -> str:
    """Hash of the source of the packages that compute per-video results.

    Part of every shard's fingerprint, so results made by other code (a changed default, a fixed
    scorer) are recomputed instead of silently reused. The modules that only write clip media are left out
    (`MEDIA_CODE`, except `media/decode.py`, which the analysis decodes with): a fix to the clip writer
    rewrites media, it does not rescore.
    """
    root = Path(__file__).resolve().parents[1]
    media_only = {root / p for p in MEDIA_CODE if p != "media/decode.py"}
    paths = [p for package in CODE_PACKAGES for p in sorted((root / package).rglob("*.py")) if p not in media_only]
    return _hash_sources(paths, root)


@functools.cache
def media_code_fingerprint() -> str:
    """Hash of the source of the modules that write clip media (`MEDIA_CODE`)."""
    root = Path(__file__).resolve().parents[1]
    return _hash_sources([root / p for p in MEDIA_CODE], root)


MEDIA_ONLY = ("clip_short_side", "crf", "preset", "write_clips", "gc")  # settings of the media step alone


def media_fingerprint(media: MediaConfig) -> str:
    """Hash of what the written clip files depend on besides their span: encoder settings and writer code."""
    payload = {k: getattr(media, k) for k in ("fps", "sample_rate", "clip_short_side", "crf", "preset")}
    payload["code"] = media_code_fingerprint()
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


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
        write_clips: which clips get a media file, written after eligibility (`curation.media_step`):
            `eligible_T` (or any `eligible_<class>`), `all` or `none`. Without one, readers take the clip's
            frames from its source range (`media.clip_source`).
        gc: delete the media of clips `write_clips` no longer selects; off: a clip that stops being
            eligible keeps its file.
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
    write_clips: str = "eligible_T"
    gc: bool = False


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

        Thresholds are not part of it (eligibility is computed after the merge), nor are the settings of
        the clip media, written after eligibility (`MEDIA_ONLY`): changing a threshold, `write_clips` or the
        clip encoder never re-decodes a video for its scores.
        """
        payload = {"media": asdict(self.media), "scenes": asdict(self.scenes), "scorers": self.scorers,
                   "min_video_s": self.min_video_s, "min_decoded_share": self.min_decoded_share,
                   "code": code_fingerprint()}
        for key in ("extensions", "decode_threads", *MEDIA_ONLY):  # not what the analysis computes
            payload["media"].pop(key)
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def table_path(path: str, root: str | None = None) -> str:
    """The path written to the table: relative to `root` (default: the working directory, i.e. the
    project root under `kedro run`) when the file is inside it, so tables stay valid when the
    project folder moves; absolute otherwise."""
    root = os.path.abspath(root or os.getcwd())
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else absolute
