"""Video latents: a causal 3D VAE (diffusers ``AutoencoderKLWan``) or the lossless patchify codec.

Both map RGB uint8 frames [F, H, W, 3], F = 1 + 4k, to latents [C, T, H/8, W/8], T = 1 + (F-1)/4,
and back (``decode`` -> [3, F, H, W] in [-1, 1]). The Wan VAE's latents are normalised with its
config's ``latents_mean`` / ``latents_std`` (as the Wan pipelines do) and its posterior *mode* is
stored, so a cached latent is deterministic.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from omnihuman_pipeline.features.codec import PatchifyCodec, StoredLatents, to_unit

logger = logging.getLogger(__name__)

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


class WanVAE:
    """``AutoencoderKLWan`` loaded from a local diffusers folder (``config.json`` + weights).

    Args:
        path: the folder (``save_pretrained`` layout; the ``vae/`` subfolder of a Wan checkpoint).
        device: torch device.
        dtype: storage dtype of the latents.
    """

    name = "wan_vae"

    def __init__(self, path: str | Path, device: str = "cpu", dtype: str = "float16"):
        from diffusers import AutoencoderKLWan

        self.path, self.device, self.dtype = str(path), torch.device(device), DTYPES[dtype]
        self.vae = AutoencoderKLWan.from_pretrained(self.path, torch_dtype=torch.float32).to(self.device).eval()
        cfg = self.vae.config
        self.latent_channels = int(cfg.z_dim)
        self.mean = torch.tensor(cfg.latents_mean, dtype=torch.float32).view(-1, 1, 1, 1)[: self.latent_channels]
        self.inv_std = 1.0 / torch.tensor(cfg.latents_std, dtype=torch.float32).view(-1, 1, 1, 1)[
            : self.latent_channels]
        self.temporal = int(cfg.scale_factor_temporal or 4)
        self.spatial = int(cfg.scale_factor_spatial or 8)

    def describe(self) -> dict:
        return {"latent_channels": self.latent_channels, "temporal_factor": self.temporal,
                "spatial_factor": self.spatial, "lossless": False, "path": self.path}

    @torch.no_grad()
    def encode_unit(self, video: Tensor) -> Tensor:
        """float [3, F, H, W] in [-1, 1] -> normalised latents [C, T, H/8, W/8] (float32)."""
        posterior = self.vae.encode(video[None].to(self.device)).latent_dist
        z = posterior.mode()[0].float().cpu()
        return (z - self.mean) * self.inv_std

    def encode(self, frames: np.ndarray) -> StoredLatents:
        """RGB uint8 [F, H, W, 3] -> normalised latents in the storage dtype."""
        return StoredLatents(self.encode_unit(to_unit(frames)).to(self.dtype).contiguous())

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Normalised latents [C, T, h, w] -> video [3, 1 + 4(T-1), 8h, 8w] in [-1, 1]."""
        z = latents.float() / self.inv_std + self.mean
        return self.vae.decode(z[None].to(self.device)).sample[0].float().cpu().clamp(-1, 1)


def build_video_encoder(backend: str, *, weights: str | None = None, device: str = "cpu",
                        dtype: str = "float16") -> PatchifyCodec | WanVAE:
    """The video encoder named by `backend` (``patchify`` | ``wan_vae``); weights load once here."""
    if backend == "patchify":
        return PatchifyCodec()
    if backend == "wan_vae":
        from omnihuman_pipeline.weights import resolve

        return WanVAE(resolve("vae", weights), device=device, dtype=dtype)
    raise ValueError(f"unknown video backend {backend!r}: patchify | wan_vae")
