"""Backbones the OmniHuman conditions can be put on, by ``OmniHumanConfig.backbone``.

``native`` is this project's MMDiT (``mmdit.py``); ``wan`` wraps diffusers' Wan2.1 text-to-video
transformer (``wan.py``). A new backbone (e.g. HunyuanVideo) is one more entry: a class with the same
``forward`` / ``token_layout`` / ``pose_guider`` surface.
"""

from __future__ import annotations

from importlib import import_module

from torch import nn

from .config import BACKBONES, OmniHumanConfig

BACKBONE_CLASSES: dict[str, str] = {
    "native": "omnihuman_pipeline.models.mmdit:OmniHumanTransformer",
    "wan": "omnihuman_pipeline.models.wan:WanOmniTransformer",
}
assert set(BACKBONE_CLASSES) == set(BACKBONES)


def build_model(config: OmniHumanConfig, backend: str = "sdpa") -> nn.Module:
    """The network of ``config`` (fresh weights; the backbone's class from :data:`BACKBONE_CLASSES`)."""
    module, name = BACKBONE_CLASSES[config.backbone].split(":")
    return getattr(import_module(module), name)(config, backend=backend)
