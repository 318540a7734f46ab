"""Sync-C and Sync-D (Chung & Zisserman 2016; paper §4.1): syncnet_python's `evaluate` on each generated video.

Procedure (`scoring.lipsync.run_syncnet`, the same code the curate `syncnet` backend runs):

1. the face track (FaceMesh boxes in place of syncnet_python's S3FD, one face) -> 224x224 mouth-biased crops,
   5-frame windows; 16 kHz audio -> 13-d MFCCs (int16 scale), 20-step windows (4 steps per 25 fps frame);
2. SyncNet (`syncnet_v2.model`, weights key `syncnet`) embeds every window pair (1024-d each);
3. the mean Euclidean distance between video window t and audio window t + j - 15 for j = 0..30 (zero vectors
   outside the audio) gives the distance curve over ±`VSHIFT` frames;
4. **Sync-C** = median(curve) - min(curve) (syncnet_python's `conf`), **Sync-D** = min(curve) (its `minval`), and
   `sync_offset` = 15 - argmin(curve) frames (positive: audio leads the video). Set values are means over
   videos (for `sync_offset`, a drift check: a well-synced model averages near 0).

Offline default without SyncNet weights: the curate proxy `mouth_envelope` (FaceMesh mouth opening x audio loudness
over the same ±15 frames, calibrated to SyncNet-like magnitudes; see `scoring.lipsync`), reported as
`sync_conf_mouth_envelope` / `sync_offset_mouth_envelope`. It is not Sync-C and never carries that name. Its
control `sync_conf_mouth_envelope_shifted_audio` scores the same mouth track against the video's own audio rotated
by half its length (the wrong audio): a model that learned lip sync scores well above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore
from omnihuman_pipeline.scoring.lipsync import VSHIFT

WEIGHTS_KEY = "syncnet"


def _clip(item: VideoItem):
    from omnihuman_pipeline.scoring.base import AnalysisClip

    return AnalysisClip(item.generated, float(item.fps), item.audio, int(item.sample_rate), item.video_id)


@dataclass
class SyncNetSyncMetric:
    """Sync-C / Sync-D / offset of one video with SyncNet.

    Attributes:
        weights_path: `syncnet_v2.model`; None resolves "syncnet".
        device: torch device.
        vshift: frames searched either way (syncnet_python: 15).
        batch_size: windows per forward pass.
        min_face_frames: share of frames that must show a face, else the video fails with "no_face".
    """

    key: ClassVar[str] = "sync"
    outputs: ClassVar[tuple[str, ...]] = ("sync_c", "sync_d", "sync_offset")
    backend: ClassVar[str] = "syncnet"
    kind: ClassVar[str] = "per_video"

    weights_path: str | None = None
    device: str = "cpu"
    vshift: int = VSHIFT
    batch_size: int = 20
    min_face_frames: float = 0.5
    _net: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        from omnihuman_pipeline.scoring.lipsync import load_syncnet

        if self._net is None:
            self._net = load_syncnet(self.weights_path, self.device)

    def score_video(self, item: VideoItem) -> VideoScore:
        from omnihuman_pipeline.scoring.lipsync import run_syncnet

        self.setup()
        # steps 1-4 in one call, shared with the curate backend
        found = run_syncnet(self._net, _clip(item), vshift=self.vshift, device=self.device,
                            batch_size=self.batch_size, min_face_frames=self.min_face_frames)  # fmt: skip
        if found.error is not None:
            raise MetricFailure(found.error)
        values = {"sync_c": found.conf, "sync_d": found.min_dist, "sync_offset": found.offset}
        return VideoScore(values, n=len(item.generated), extra={"face_frames": found.face_frames})


@dataclass
class MouthEnvelopeSyncMetric:
    """The offline lip-sync proxy of one video (`scoring.lipsync.MouthEnvelopeSync`), under its own names.

    Attributes:
        vshift: frames searched either way.
        max_faces: most faces tracked (the most confident track counts).
        min_face_frames: share of frames that must show a face.
    """

    key: ClassVar[str] = "sync_mouth_envelope"
    outputs: ClassVar[tuple[str, ...]] = ("sync_conf_mouth_envelope", "sync_offset_mouth_envelope",
                                          "sync_conf_mouth_envelope_shifted_audio")
    backend: ClassVar[str] = "mouth_envelope"
    kind: ClassVar[str] = "per_video"

    vshift: int = VSHIFT
    max_faces: int = 2
    min_face_frames: float = 0.5
    _scorer: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        from omnihuman_pipeline.scoring.lipsync import MouthEnvelopeSync

        if self._scorer is None:
            self._scorer = MouthEnvelopeSync(vshift=self.vshift, max_faces=self.max_faces,
                                             min_face_frames=self.min_face_frames)  # fmt: skip
            self._scorer.setup()

    def score_video(self, item: VideoItem) -> VideoScore:
        self.setup()
        score = self._scorer.score(_clip(item))
        if score.error is not None:
            raise MetricFailure(score.error)
        values = {"sync_conf_mouth_envelope": score.value, "sync_offset_mouth_envelope": score.extra["offset"],
                  "sync_conf_mouth_envelope_shifted_audio": shifted_audio_conf(
                      score.arrays["mouth"], score.arrays["loudness_db"], self.vshift, self._scorer.conf_scale)}
        return VideoScore(values, n=len(item.generated))


def shifted_audio_conf(mouth: np.ndarray, loudness: np.ndarray, vshift: int, conf_scale: float) -> float:
    """The wrong-audio control: the same mouth track against its own loudness rotated by half the video.

    The rotation (more than ``vshift`` frames) takes the audio's timing away while keeping its statistics, so a
    model that follows its audio scores well above this value, and one that only moves its mouth does not.
    NaN when the video is too short to rotate past the searched offsets (fewer than ``2 (vshift + 1)`` frames).
    """
    from omnihuman_pipeline.scoring.lipsync import correlation_curve, offset_and_confidence

    n = len(loudness)
    if n < 2 * (vshift + 1):
        return math.nan
    curve = correlation_curve(mouth, np.roll(loudness, n // 2), vshift)
    return conf_scale * offset_and_confidence(curve, vshift)[1]

