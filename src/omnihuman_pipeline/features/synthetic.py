"""Synthetic feature caches with known values, in the features pipeline's shard and index format.

For tests and benchmarks of training: no media, no encoders, any shapes. Latent frame k of clip c
holds ``k + 100 * c`` in channel 0 (the rest seeded noise), audio frame f holds ``f`` in every
channel, and the body's nose x moves with the frame, so a test can tell exactly which frames a
training window was cut from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from omnihuman_pipeline.features.codec import TIME_MAJOR, UINT8_OFFSET, UINT8_SCALE, to_time_major
from omnihuman_pipeline.features.shards import FeatureStore, PendingEntry
from omnihuman_pipeline.models.latent_layout import num_latent_frames

BACKENDS = {"video": "patchify", "audio": "whisper", "text": "minilm", "pose": "keypoints"}
RENDER = {"min_confidence": 0.3, "stick_width": 2, "joint_radius": 2, "draw_hands": True}


@dataclass(frozen=True)
class ClipSpec:
    """One synthetic clip: its video, eligibility and size."""

    video_id: str
    T: bool = True
    A: bool = False
    P: bool = False
    n_frames: int = 49
    size: tuple[int, int] = (4, 4)  # latent h, w
    audio: bool = True


def body_keypoints(n_frames: int) -> np.ndarray:
    """A standing skeleton [F, 18, 3] in normalised coordinates whose nose x encodes the frame."""
    body = np.full((n_frames, 18, 3), np.nan, np.float32)
    joints = {0: (0.5, 0.2), 1: (0.5, 0.35), 2: (0.35, 0.35), 5: (0.65, 0.35), 8: (0.42, 0.8), 11: (0.58, 0.8)}
    for f in range(n_frames):
        for j, (x, y) in joints.items():
            body[f, j] = (x, y, 0.9)
        body[f, 0, 0] = 0.1 + 0.8 * f / max(1, n_frames - 1)
    return body


def make_cache(root: Path, specs: list[ClipSpec], *, channels: int = 4, text_len: int = 6, text_dim: int = 16,
               audio_layers: int = 3, audio_dim: int = 8, clips_per_shard: int = 2, seed: int = 0,
               marked: bool = True, quantized: bool = False) -> tuple[pd.DataFrame, FeatureStore]:
    """Write ``specs`` as feature shards under ``root`` and return (index, store).

    With ``marked`` channel 0 of latent frame k of clip c holds ``k + 100 c``; without it the latents
    are plain standard normal noise. With ``quantized`` they are stored as the default codec stores
    its latents (uint8 with its scale and offset; not with ``marked``). Latents are stored time-major,
    as the features pipeline writes them.
    """
    if marked and quantized:
        raise ValueError("marked latents do not fit in uint8: use marked=False with quantized=True")
    store = FeatureStore.at(str(root / "shards"))
    gen = torch.Generator().manual_seed(seed)
    rows, pending, counts = [], [], {}
    for c, spec in enumerate(specs):
        counts[spec.video_id] = counts.get(spec.video_id, -1) + 1
        clip_id = f"{spec.video_id}-{counts[spec.video_id]:06d}"
        n_lat, (h, w) = num_latent_frames(spec.n_frames), spec.size
        scale, offset = (UINT8_SCALE, UINT8_OFFSET) if quantized else (1.0, 0.0)
        if quantized:
            latents = torch.randint(0, 256, (channels, n_lat, h, w), generator=gen, dtype=torch.uint8)
            ref = torch.randint(0, 256, (channels, 1, h, w), generator=gen, dtype=torch.uint8)
        else:
            latents = torch.randn(channels, n_lat, h, w, generator=gen)
            if marked:
                latents[0] = (torch.arange(n_lat, dtype=torch.float32) + 100 * c)[:, None, None]
            ref = torch.randn(channels, 1, h, w, generator=gen)
        video_meta = {"frames": spec.n_frames, "height": 8 * h, "width": 8 * w, "latent_frames": n_lat,
                      "ref_frame": 0, "scale": scale, "offset": offset, "latent_channels": channels,
                      "layout": TIME_MAJOR}
        entries = [PendingEntry(clip_id, "video", "hv", "patchify",
                                {"latents": to_time_major(latents), "ref_latent": to_time_major(ref)}, video_meta)]
        if spec.audio:
            audio = torch.arange(spec.n_frames, dtype=torch.float32)[:, None, None].expand(-1, audio_layers, audio_dim)
            entries.append(PendingEntry(clip_id, "audio", "ha", "whisper", {"features": audio.half().clone()},
                                        {"present": True, "layers": audio_layers, "dim": audio_dim}))
        else:
            entries.append(PendingEntry(clip_id, "audio", "ha", "whisper", {}, {"present": False}))
        mask = torch.zeros(text_len, dtype=torch.bool)
        mask[:3] = True
        entries.append(PendingEntry(clip_id, "text", "ht", "minilm",
                                    {"states": torch.randn(text_len, text_dim, generator=gen), "mask": mask},
                                    {"dim": text_dim, "max_length": text_len}))
        if spec.P:
            hands = np.full((spec.n_frames, 2, 21, 3), np.nan, np.float32)
            entries.append(PendingEntry(clip_id, "pose", "hp", "keypoints",
                                        {"body": torch.from_numpy(body_keypoints(spec.n_frames)),
                                         "hands": torch.from_numpy(hands)},
                                        {"width": 8 * w, "height": 8 * h, "frames": spec.n_frames, "render": RENDER}))
        pending.append((clip_id, spec, entries))
    shard_of: dict[tuple[str, str], str] = {}
    for start in range(0, len(pending), clips_per_shard):
        group = [e for _, _, es in pending[start:start + clips_per_shard] for e in es]
        for entry in store.write_shard(group):
            shard_of[(entry.clip_id, entry.kind)] = entry.shard
    for clip_id, spec, entries in pending:
        kinds = {e.kind for e in entries}
        rows.append({
            "clip_id": clip_id, "video_id": spec.video_id, "status": "ok", "error": None,
            "eligible_T": spec.T, "eligible_A": spec.A, "eligible_P": spec.P, "has_audio": spec.audio,
            "has_pose": spec.P, "n_frames": spec.n_frames, "n_latent_frames": num_latent_frames(spec.n_frames),
            "height": 8 * spec.size[0], "width": 8 * spec.size[1], "ref_frame": 0, "latent_channels": channels,
            "audio_layers": audio_layers if spec.audio else None, "audio_dim": audio_dim if spec.audio else None,
            "text_dim": text_dim, "text_length": text_len, "caption": "a person",
            "backends": json.dumps({k: (BACKENDS[k] if k in kinds else None) for k in BACKENDS}),
            "config_hash": "c0", "shard": shard_of[(clip_id, "video")],
            **{f"{k}_backend": BACKENDS[k] if k in kinds else None for k in BACKENDS},
            **{f"{k}_hash": f"h{k[0]}" if k in kinds else None for k in BACKENDS},
            **{f"{k}_shard": shard_of.get((clip_id, k)) for k in BACKENDS},
        })
    return pd.DataFrame(rows), store
