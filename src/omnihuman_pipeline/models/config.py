"""Configuration of the OmniHuman MMDiT (paper §3.1–3.2) and its size presets.

Parameter counts of the presets (``python -m omnihuman_pipeline.models`` prints them; the
``paper`` preset is only ever built on the meta device):

======  ======  ======  =====  ========  ==============
preset  layers  hidden  heads  head dim  parameters
======  ======  ======  =====  ========  ==============
tiny    2       32      2      16               66,918
base    16      1024    16     64          676,232,512
paper   32      3072    24     128      12,082,476,096
======  ======  ======  =====  ========  ==============

(exact numbers: :func:`omnihuman_pipeline.models.parameter_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

# The causal 3D VAE (paper §3.1) keeps the first pixel frame alone and then compresses groups of 4.
VAE_TEMPORAL_FACTOR = 4
VAE_SPATIAL_FACTOR = 8
# Audio features and video frames share one clock (paper §3.2: "25 fps in our setting").
VIDEO_FPS = 25
# Networks the conditions can be put on: this project's MMDiT, or diffusers' Wan2.1 text-to-video transformer.
BACKBONES = ("native", "wan")


@dataclass(frozen=True)
class OmniHumanConfig:
    """Hyper-parameters of :class:`~omnihuman_pipeline.models.mmdit.OmniHumanTransformer`.

    Attributes:
        in_channels: VAE latent channels C.
        patch_size: (pt, ph, pw) of the Conv3d patch embedding (kernel = stride).
        hidden_size: model width D (= num_heads * head_dim).
        num_layers: number of dual-stream MMDiT blocks.
        num_heads: attention heads.
        mlp_ratio: FFN hidden width / D.
        rope_axes_dim: head-dim split (t, h, w) of the 3D RoPE; each even, summing to head_dim.
        rope_theta: RoPE base frequency.
        rope_spatial_scale: multiplies the (h, w) token positions before the rotation. RoPE's geometric
            frequencies (at most 1 rad a token) separate neighbouring positions only weakly on a small token
            grid, so a video token cannot single out the reference token at its own (h, w); a scale near pi
            with a small theta spreads the frequencies up to the grid's Nyquist rate (the ``small`` preset).
        text_dim: channels of the text encoder's token embeddings.
        timestep_freq_dim: width of the sinusoidal timestep features.
        timestep_scale: the flow-matching time sigma in [0, 1] is multiplied by this before the sinusoid.
        with_audio: build the audio adapter and per-block frame-wise audio cross-attention.
        audio_layers: number of audio encoder hidden layers in the multi-scale features (L_layers).
        audio_dim: channels per audio encoder layer (C).
        audio_hidden: hidden width of the audio MLP.
        audio_window: each 25 fps audio frame is joined by its ±audio_window neighbours.
        audio_time_code: add to each audio token a sinusoidal code of its time relative to the latent frame,
            so a video token can tell which of the latent frame's pixel frames a sound belongs to (the paper
            concatenates adjacent frames' features for the same reason). Every preset sets it; model cards
            written before it existed read as False and keep their behaviour.
        with_pose: build the pose guider and the extra patch-embedding input channels.
        pose_channels: pose-guider output channels per latent frame.
        pose_window: pose features of each latent frame are concatenated with ±pose_window neighbours.
        pose_guider_widths: channels of the three stride-2 convolutions of the pose guider (8x down).
        vae_temporal_factor: pixel frames per latent frame after the first one.
        vae_spatial_factor: pixels per latent cell along H and W.
        norm_eps: epsilon of LayerNorm / RMSNorm.
        backbone: ``native`` (this project's MMDiT) or ``wan`` (diffusers' Wan2.1 transformer with the same
            conditions, ``models/wan.py``); see :data:`BACKBONES`.
        backbone_config: the backbone's own config (for ``wan``: the diffusers ``config.json`` of its
            transformer folder); the size fields above are derived from it.
    """

    in_channels: int = 16
    patch_size: tuple[int, int, int] = (1, 2, 2)
    hidden_size: int = 1024
    num_layers: int = 16
    num_heads: int = 16
    mlp_ratio: float = 4.0
    rope_axes_dim: tuple[int, int, int] = (16, 24, 24)
    rope_theta: float = 10_000.0
    rope_spatial_scale: float = 1.0
    text_dim: int = 4096
    timestep_freq_dim: int = 256
    timestep_scale: float = 1000.0
    with_audio: bool = True
    audio_layers: int = 13
    audio_dim: int = 768
    audio_hidden: int = 1024
    audio_window: int = 2
    audio_time_code: bool = False
    with_pose: bool = True
    pose_channels: int = 16
    pose_window: int = 1
    pose_guider_widths: tuple[int, int, int] = (16, 32, 64)
    vae_temporal_factor: int = VAE_TEMPORAL_FACTOR
    vae_spatial_factor: int = VAE_SPATIAL_FACTOR
    norm_eps: float = 1e-6
    backbone: str = "native"
    backbone_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if sum(self.rope_axes_dim) != self.head_dim or any(d % 2 for d in self.rope_axes_dim):
            raise ValueError(
                f"rope_axes_dim {self.rope_axes_dim} must be even and sum to head_dim {self.head_dim}"
            )
        if self.vae_spatial_factor != 2 ** len(self.pose_guider_widths):
            raise ValueError("the pose guider has one stride-2 conv per factor 2 of vae_spatial_factor")

    @property
    def head_dim(self) -> int:
        """Channels per attention head."""
        return self.hidden_size // self.num_heads

    @property
    def pose_feature_channels(self) -> int:
        """Channels stacked onto the noisy latents by the pose branch (0 without pose)."""
        return self.pose_channels * (2 * self.pose_window + 1) if self.with_pose else 0

    @property
    def patch_in_channels(self) -> int:
        """Input channels of the patch embedding: latents plus pose features."""
        return self.in_channels + self.pose_feature_channels

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> OmniHumanConfig:
        """Build a named preset (``tiny``, ``base``, ``paper``), optionally overriding fields.

        Args:
            name: preset name, one of :data:`PRESETS`.
            **overrides: field values replacing the preset's.

        Returns:
            The frozen config.
        """
        if name not in PRESETS:
            raise KeyError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (tuples kept) for hyper-parameter logging."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


PRESETS: dict[str, OmniHumanConfig] = {
    # CPU tests: 2 layers, head dim 16, < 1 M parameters.
    "tiny": OmniHumanConfig(
        in_channels=4,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        mlp_ratio=2.0,
        rope_axes_dim=(4, 6, 6),
        text_dim=16,
        timestep_freq_dim=32,
        audio_layers=3,
        audio_dim=8,
        audio_hidden=32,
        audio_window=1,
        audio_time_code=True,
        pose_channels=2,
        pose_window=1,
        pose_guider_widths=(4, 8, 8),
    ),
    # The learning profile on a CPU: wide enough for the offline codec's 3,072-value tokens with x0
    # prediction (JiT); head dim 32 gives each spatial RoPE axis 6 frequencies, spread from pi to pi/5.7
    # rad a token (theta 8, positions x pi), so a video token can single out the reference token at its
    # own (h, w) on the 8x8 token grid.
    "small": OmniHumanConfig(
        in_channels=768,
        hidden_size=192,
        num_layers=4,
        num_heads=6,
        mlp_ratio=4.0,
        rope_axes_dim=(8, 12, 12),
        rope_theta=8.0,
        rope_spatial_scale=3.14159,
        text_dim=384,
        timestep_freq_dim=128,
        audio_layers=5,
        audio_dim=384,
        audio_hidden=192,
        audio_window=2,
        audio_time_code=True,
        pose_channels=4,
        pose_window=1,
        pose_guider_widths=(8, 16, 16),
    ),
    # One-GPU experiments: ~0.7 B parameters, T5-XXL text width, wav2vec2-base 13 hidden states.
    "base": OmniHumanConfig(audio_time_code=True),
    # Paper scale (a multi-billion MMDiT as in HunyuanVideo-size T2V models); meta device only here.
    "paper": OmniHumanConfig(
        hidden_size=3072,
        num_layers=32,
        num_heads=24,
        rope_axes_dim=(32, 48, 48),
        audio_layers=25,
        audio_dim=1024,
        audio_hidden=3072,
        audio_time_code=True,
        pose_channels=32,
        pose_guider_widths=(32, 64, 128),
    ),
}
