"""The real VAE backend: a tiny random AutoencoderKLWan saved with save_pretrained, loaded by our loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.features.vae import build_video_encoder
from omnihuman_pipeline.weights import WeightsNotFoundError
from tests.wan_tiny import save_tiny_wan_vae


@pytest.fixture(scope="module")
def tiny_wan_vae(tmp_path_factory):
    """A random 4-channel Wan VAE in the diffusers folder layout."""
    return save_tiny_wan_vae(tmp_path_factory.mktemp("wan_vae"), z_dim=4)


def test_wan_vae_encode_decode_shapes(tiny_wan_vae):
    """9 frames of 32x48 -> latents [4, 3, 4, 6] (4x time after frame 0, 8x space) -> video [3, 9, 32, 48]."""
    vae = build_video_encoder("wan_vae", weights=str(tiny_wan_vae), dtype="float16")
    frames = np.random.default_rng(0).integers(0, 256, (9, 32, 48, 3), dtype=np.uint8)
    stored = vae.encode(frames)
    assert stored.stored.shape == (4, 3, 4, 6) and stored.stored.dtype == torch.float16
    video = vae.decode(stored.latents())
    assert video.shape == (3, 9, 32, 48) and video.abs().max() <= 1
    assert vae.describe()["temporal_factor"] == 4 and vae.describe()["spatial_factor"] == 8


def test_wan_vae_normalises_with_config_statistics(tiny_wan_vae):
    """Stored latents are (mode - latents_mean) / latents_std, as the Wan pipelines feed the DiT."""
    vae = build_video_encoder("wan_vae", weights=str(tiny_wan_vae), dtype="float32")
    x = torch.rand(3, 5, 16, 16) * 2 - 1
    raw = vae.vae.encode(x[None]).latent_dist.mode()[0]
    assert torch.allclose(vae.encode_unit(x), raw / 2.0, atol=1e-6)


def test_missing_vae_weights_name_the_setting(monkeypatch, tmp_path):
    """No configured VAE folder -> an error naming the env variable and where the weights are published."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_VAE", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="OMNIHUMAN_WEIGHTS_VAE.*Wan-AI"):
        build_video_encoder("wan_vae")
