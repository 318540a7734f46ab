"""Per-channel statistics of the training clips' audio features, for the audio adapter's standardisation.

Set once, when a stage adds a fresh audio adapter (``models.audio_adapter``, step 0); later stages and
generation read them from the weights. Every rank computes them from the same clips (all training clips
with audio, not the rank's shards), so the ranks' weights stay identical.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from omnihuman_pipeline.features.loader import FeatureDataset
from omnihuman_pipeline.models.audio_adapter import AudioAdapter
from omnihuman_pipeline.training.conditions import unit_hash
from omnihuman_pipeline.training.data import ClipRef

logger = logging.getLogger(__name__)

MAX_CLIPS = 256  # clips read for the statistics (a fixed, seeded subset beyond that)
STD_FLOOR = 0.1  # a channel's std is at least this fraction of the median channel std (near-constant channels)


def audio_feature_stats(features: FeatureDataset, clips: Iterable[ClipRef], seed: int = 0,
                        max_clips: int = MAX_CLIPS) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Mean and standard deviation [L * C] of the audio feature frames of ``clips`` (those that have audio).

    Returns:
        ``mean``, ``std`` (floored at ``STD_FLOOR`` x the median channel std) and ``{"clips", "frames"}``.
    """
    chosen = sorted((c for c in clips if features.rows[c.row].get("has_audio")),
                    key=lambda c: unit_hash("audio_stats", seed, c.clip_id))[:max_clips]
    total, total_sq, n = None, None, 0
    for clip in chosen:
        frames = int(features.rows[clip.row]["n_frames"])
        audio = features.window(clip.row, range(0, 1), range(frames), audio=True, pose=False)["audio"]
        if audio is None:
            continue
        x = audio.flatten(1).double()  # [F, L * C]
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = x.pow(2).sum(0) if total_sq is None else total_sq + x.pow(2).sum(0)
        n += x.shape[0]
    if n < 2:
        raise ValueError("no training clip has audio features to standardise the audio adapter with")
    mean = total / n
    std = (total_sq / n - mean.pow(2)).clamp_min(0).sqrt()
    std = std.clamp_min(STD_FLOOR * float(std.median()) + 1e-8)
    return mean.float(), std.float(), {"clips": len(chosen), "frames": n}


def fresh_audio_adapters(net: nn.Module, newly_initialized: Iterable[str]) -> list[AudioAdapter]:
    """The net's audio adapters whose MLP was not loaded from a checkpoint (their statistics are to be set)."""
    fresh = set(newly_initialized)
    return [m for name, m in net.named_modules()
            if isinstance(m, AudioAdapter) and f"{name}.proj.0.weight".removeprefix(".") in fresh]


def standardise_audio(net: nn.Module, newly_initialized: Iterable[str], features: FeatureDataset,
                      clips: Iterable[ClipRef], seed: int = 0) -> dict[str, Any] | None:
    """Set the statistics of every fresh audio adapter of ``net``; what was used, or None when none is fresh."""
    adapters = fresh_audio_adapters(net, newly_initialized)
    if not adapters:
        return None
    mean, std, used = audio_feature_stats(features, clips, seed)
    for adapter in adapters:
        adapter.set_feature_stats(mean, std)
    logger.info("audio features standardised with the statistics of %d clips (%d frames)", used["clips"],
                used["frames"])
    return used
