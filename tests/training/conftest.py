"""Fixtures of the training tests: a two-clip synthetic cache and its data module per stage."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.models import OmniHumanConfig, OmniHumanTransformer
from omnihuman_pipeline.training.conditions import Ratios
from omnihuman_pipeline.training.config import DataSettings
from omnihuman_pipeline.training.data import OmniDataModule
from omnihuman_pipeline.training.module import OmniHumanModule

FLOW = {"scheme": "logit_normal", "mean": 0.0, "std": 1.0, "shift": 1.0}
STAGE_CONDITIONS = {"stage1": ("text",), "stage2": ("text", "audio"), "stage3": ("text", "audio", "pose")}


@pytest.fixture
def two_clip_cache(tmp_path):
    """Two videos, each with one A- and P-eligible clip of 13 latent frames (4 channels, 4x4)."""
    return make_cache(tmp_path, [ClipSpec("va", A=True, P=True), ClipSpec("vb", A=True, P=True)])


def tiny_net(conditions: tuple[str, ...], seed: int = 0) -> OmniHumanTransformer:
    """The tiny preset with the synthetic cache's channels and the branches of a stage."""
    torch.manual_seed(seed)
    config = OmniHumanConfig.from_preset("tiny", in_channels=4, text_dim=16, audio_layers=3, audio_dim=8,
                                         with_audio="audio" in conditions, with_pose="pose" in conditions)
    return OmniHumanTransformer(config)


def data_module(cache, conditions, *, steps: int = 4, **data) -> OmniDataModule:
    index, store = cache
    settings = DataSettings(**{"window_latent_frames": 4, "batch_size": 2, "num_workers": 0, "val_fraction": 0.5,
                               **data})
    return OmniDataModule(index, store, conditions=conditions, ratios=Ratios(), t_only_fraction=1.0, data=settings,
                          flow=FLOW, with_audio="audio" in conditions, with_pose="pose" in conditions,
                          total_micro_batches=steps)


def lit_module(net: OmniHumanTransformer, lr: float = 1e-3) -> OmniHumanModule:
    return OmniHumanModule(net, partial(torch.optim.AdamW, lr=lr, weight_decay=0.0))
