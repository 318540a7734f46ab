"""Tiny seeded model and inputs shared by the model tests (2 layers, head dim 16, 4x4 latents)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from omnihuman_pipeline.models import OmniHumanConfig, OmniHumanTransformer, num_pixel_frames

CONDITION_OUTPUTS = ("audio_attn.to_out",)  # zero-initialised outputs of the audio branch


def perturb_zero_inits(model: OmniHumanTransformer, *, conditions: bool, seed: int = 0) -> None:
    """Give every all-zero parameter small random values, as a trained checkpoint would have.

    With ``conditions=False`` the zero-initialised audio outputs and pose input channels stay zero (a
    stage-1 model that just gained fresh audio and pose modules).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not conditions and any(key in name for key in CONDITION_OUTPUTS):
                continue
            if torch.count_nonzero(param) == 0:
                param.copy_(0.2 * torch.randn(param.shape, generator=gen))
        pose_in = model.patch_embed.proj.weight[:, model.config.in_channels:]
        if conditions and pose_in.numel() and torch.count_nonzero(pose_in) == 0:
            pose_in.copy_(0.2 * torch.randn(pose_in.shape, generator=gen))


@pytest.fixture
def tiny_config() -> OmniHumanConfig:
    return OmniHumanConfig.from_preset("tiny")


@pytest.fixture
def make_model(tiny_config: OmniHumanConfig) -> Callable[..., OmniHumanTransformer]:
    def _make(*, conditions_trained: bool = True, seed: int = 0, **overrides) -> OmniHumanTransformer:
        torch.manual_seed(seed)
        config = OmniHumanConfig.from_preset("tiny", **overrides) if overrides else tiny_config
        model = OmniHumanTransformer(config).eval()
        perturb_zero_inits(model, conditions=conditions_trained, seed=seed + 1)
        return model

    return _make


def make_inputs(
    config: OmniHumanConfig,
    *,
    batch: int = 2,
    frames: int = 3,
    size: int = 4,
    motion: int = 1,
    text_len: int = 5,
    seed: int = 0,
) -> dict[str, Tensor | None]:
    """Seeded inputs with every condition present and on; the last text token of sample 0 is padding."""
    gen = torch.Generator().manual_seed(seed)
    c = config.in_channels
    n_pixel = num_pixel_frames(frames)
    text_mask = torch.ones(batch, text_len, dtype=torch.bool)
    text_mask[0, -1] = False
    on = torch.ones(batch, dtype=torch.bool)
    return {
        "noisy_latents": torch.randn(batch, c, frames, size, size, generator=gen),
        "timestep": torch.rand(batch, generator=gen),
        "text_emb": torch.randn(batch, text_len, config.text_dim, generator=gen),
        "text_mask": text_mask,
        "ref_latents": torch.randn(batch, c, 1, size, size, generator=gen),
        "motion_latents": torch.randn(batch, c, motion, size, size, generator=gen) if motion else None,
        "audio_feats": torch.randn(batch, n_pixel, config.audio_layers, config.audio_dim, generator=gen),
        "pose_maps": torch.rand(batch, 3, n_pixel, 8 * size, 8 * size, generator=gen) * 2 - 1,
        "text_on": on.clone(),
        "audio_on": on.clone(),
        "pose_on": on.clone(),
    }


@pytest.fixture
def inputs_factory() -> Callable[..., dict[str, Tensor | None]]:
    """``make_inputs`` as a fixture, so test modules need no import from this conftest."""
    return make_inputs
