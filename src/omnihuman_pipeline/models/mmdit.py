"""OmniHuman MMDiT (paper §3.1–3.2): a dual-stream text-to-video MMDiT extended with omni-conditions.

Reads top to bottom: embedders -> dual-stream block -> final layer -> top model. The attention
processor lives in ``attention.py``, the 3D RoPE in ``rope.py``, the audio branch in
``audio_adapter.py``, the pose guider in ``pose_guider.py`` and the time/index maths in
``latent_layout.py``.

Conditions and where they enter:

* reference image -> same VAE, same patch embedding, packed before the video tokens; temporal RoPE zeroed;
* motion frames   -> clean latents packed before the noisy tokens at times -Tm..-1, excluded from the loss;
* text            -> text stream of the joint attention (padding and disabled samples masked as keys);
* audio           -> frame-wise cross-attention in every block (zero-initialised output);
* pose            -> pose guider features stacked with the noisy latents on channels (zero-initialised input channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .attention import ATTENTION_BACKENDS, JointAttention
from .audio_adapter import AudioAdapter, FrameAudioCrossAttention
from .config import OmniHumanConfig
from .latent_layout import TokenLayout, packed_layout
from .pose_guider import PoseGuider, with_pose_features
from .rope import RopeFreqs, video_rope


# --------------------------------------------------------------------------------------------------
# Embedders
# --------------------------------------------------------------------------------------------------
def timestep_sinusoid(timestep: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal features [B, dim] of (scaled) timesteps [B] (cos first, as in DiT)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timestep.device) / half
    )
    args = timestep.float()[:, None] * freqs[None]  # [B, dim / 2]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedding(nn.Module):
    """Flow-matching time sigma in [0, 1] -> sinusoid of ``scale * sigma`` -> MLP -> [B, D]."""

    def __init__(self, freq_dim: int, dim: int, scale: float) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, timestep: Tensor) -> Tensor:
        return self.mlp(timestep_sinusoid(timestep * self.scale, self.freq_dim).to(self.mlp[0].weight.dtype))


class PatchEmbed3D(nn.Module):
    """Latents [B, C, T, H, W] -> tokens [B, T/pt * H/ph * W/pw, D] with a Conv3d, kernel = stride = patch."""

    def __init__(self, in_channels: int, dim: int, patch_size: tuple[int, int, int]) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, latents: Tensor) -> Tensor:
        for size, p in zip(latents.shape[2:], self.patch_size, strict=True):
            if size % p:
                raise ValueError(
                    f"latent shape {tuple(latents.shape)} is not divisible by patch {self.patch_size}"
                )
        return self.proj(latents).flatten(2).transpose(1, 2)  # [B, N, D]


class FeedForward(nn.Module):
    """Two-layer GELU(tanh) MLP."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x [B, N, D] * (1 + scale [B, D]) + shift [B, D]."""
    return x * (1 + scale[:, None]) + shift[:, None]


@dataclass(frozen=True)
class AudioContext:
    """Audio tokens shared by all blocks: tokens [B, T', K, D], valid [T', K], on [B] | None."""

    tokens: Tensor
    valid: Tensor
    on: Tensor | None


# --------------------------------------------------------------------------------------------------
# Dual-stream block
# --------------------------------------------------------------------------------------------------
class MMDiTBlock(nn.Module):
    """Dual-stream MMDiT block with adaLN-Zero, joint attention and frame-wise audio cross-attention."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        context_pre_only: bool = False,
        with_audio: bool = True,
        eps: float = 1e-6,
        backend: str = "sdpa",
    ) -> None:
        super().__init__()
        self.context_pre_only = context_pre_only
        # video stream: shift/scale/gate for attention and FFN
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.adaln = nn.Linear(dim, 6 * dim)
        # text stream: only shift/scale of its keys/values in the last block
        self.norm1_context = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.adaln_context = nn.Linear(dim, (2 if context_pre_only else 6) * dim)
        self.attn = JointAttention(
            dim, num_heads, context_pre_only=context_pre_only, eps=eps, backend=backend
        )
        self.audio_attn = (
            FrameAudioCrossAttention(dim, num_heads, eps=eps, backend=backend) if with_audio else None
        )
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.ff = FeedForward(dim, mlp_ratio)
        if not context_pre_only:
            self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
            self.ff_context = FeedForward(dim, mlp_ratio)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None,
        temb: Tensor,
        rope: RopeFreqs,
        key_mask: Tensor | None,
        noisy_start: int,
        audio: AudioContext | None,
    ) -> tuple[Tensor, Tensor | None]:
        # 1. adaLN-Zero modulation of both streams      x: [B, N, D], context: [B, L, D], temb: [B, D]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaln(temb).chunk(6, dim=-1)
        x_norm = modulate(self.norm1(x), shift_msa, scale_msa)
        ctx_norm, ctx_mod = None, None
        if context is not None:
            ctx_mod = self.adaln_context(temb).chunk(2 if self.context_pre_only else 6, dim=-1)
            ctx_norm = modulate(self.norm1_context(context), ctx_mod[0], ctx_mod[1])

        # 2. joint attention over cat(video, text); RoPE on video tokens only
        attn_out, ctx_attn_out = self.attn(x_norm, ctx_norm, rope, key_mask)
        x = x + gate_msa[:, None] * attn_out

        # 3. frame-wise audio cross-attention on the noisy tokens only (reference/motion get no audio)
        if self.audio_attn is not None and audio is not None:
            noisy = x[:, noisy_start:]
            noisy = noisy + self.audio_attn(noisy, audio.tokens, audio.valid, audio.on)
            x = torch.cat([x[:, :noisy_start], noisy], dim=1)  # [B, N, D]

        # 4. gated residual feed-forward per stream
        x = x + gate_mlp[:, None] * self.ff(modulate(self.norm2(x), shift_mlp, scale_mlp))
        if context is None or self.context_pre_only:
            return x, None
        _, _, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = ctx_mod
        context = context + c_gate_msa[:, None] * ctx_attn_out
        context = context + c_gate_mlp[:, None] * self.ff_context(
            modulate(self.norm2_context(context), c_shift_mlp, c_scale_mlp)
        )
        return x, context


class FinalLayer(nn.Module):
    """Final adaLN (shift, scale) + linear to patch pixels, both zero-initialised (DiT)."""

    def __init__(
        self, dim: int, out_channels: int, patch_size: tuple[int, int, int], eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.adaln = nn.Linear(dim, 2 * dim)
        self.proj_out = nn.Linear(dim, math.prod(patch_size) * out_channels)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        shift, scale = self.adaln(temb).chunk(2, dim=-1)
        return self.proj_out(modulate(self.norm(x), shift, scale))


# --------------------------------------------------------------------------------------------------
# Top model
# --------------------------------------------------------------------------------------------------
class OmniHumanTransformer(nn.Module):
    """OmniHuman MMDiT: predicts the flow-matching velocity of the noisy latents.

    Args:
        config: :class:`OmniHumanConfig` (see its fields for every default; presets via
            ``OmniHumanConfig.from_preset("tiny" | "base" | "paper")``).
        backend: attention backend for every attention, ``"sdpa"`` (default) or ``"math"``.

    The loss mask of a packed sequence is ``model.token_layout(shape, has_ref, n_motion).loss_mask()``;
    the per-block audio cross-attention output can be read with a forward hook on
    ``model.blocks[i].audio_attn`` (shape [B, N_noisy, D]).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ("MMDiTBlock",)

    def __init__(self, config: OmniHumanConfig, backend: str = "sdpa") -> None:
        super().__init__()
        self.config = config
        self.gradient_checkpointing = False
        c, d = config, config.hidden_size
        self.patch_embed = PatchEmbed3D(c.patch_in_channels, d, c.patch_size)
        self.time_embed = TimestepEmbedding(c.timestep_freq_dim, d, c.timestep_scale)
        self.context_embedder = nn.Linear(c.text_dim, d)
        self.audio_adapter = (
            AudioAdapter(
                c.audio_layers, c.audio_dim, c.audio_hidden, d, c.audio_window, c.vae_temporal_factor,
                time_code=c.audio_time_code,
            )
            if c.with_audio
            else None
        )
        self.pose_guider = (
            PoseGuider(c.pose_channels, c.pose_guider_widths, c.pose_window, c.vae_temporal_factor)
            if c.with_pose
            else None
        )
        self.blocks = nn.ModuleList(
            MMDiTBlock(
                d,
                c.num_heads,
                c.mlp_ratio,
                context_pre_only=i == c.num_layers - 1,
                with_audio=c.with_audio,
                eps=c.norm_eps,
                backend=backend,
            )
            for i in range(c.num_layers)
        )
        self.final_layer = FinalLayer(d, c.in_channels, c.patch_size, c.norm_eps)
        self.init_weights()
        self.set_attention_backend(backend)

    # -- setup -------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self) -> None:
        """Xavier linears, zero biases, DiT's zero adaLN / output; new conditions enter through zeros.

        Audio: the cross-attention output is zero. Pose: the patch embedding's pose input channels are
        zero, not the pose guider's last conv, since with both zero neither would ever get a gradient
        (the guider's features reach the loss only through those channels, and those channels'
        gradient is the guider's features). A stage-2 checkpoint handed to stage 3 gets the same zeros
        (``load_pretrained_t2v`` zeroes expanded input channels), so pose starts with no effect and learns.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.flatten(1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        for layer in (self.time_embed.mlp[0], self.time_embed.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        zero = [self.final_layer.adaln, self.final_layer.proj_out]
        for block in self.blocks:
            zero += [block.adaln, block.adaln_context]
            if block.audio_attn is not None:
                zero.append(block.audio_attn.to_out)
        for module in zero:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        if self.pose_guider is not None:
            self.patch_embed.proj.weight[:, self.config.in_channels:].zero_()

    def set_attention_backend(self, backend: str) -> None:
        """Switch every attention (joint and audio) to ``backend`` (``"sdpa"`` | ``"math"``)."""
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"unknown attention backend {backend!r}; choose one of {ATTENTION_BACKENDS}")
        for module in self.modules():
            if isinstance(module, JointAttention | FrameAudioCrossAttention):
                module.backend = backend

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block in the backward pass (activations memory O(1 block))."""
        self.gradient_checkpointing = enabled

    def token_layout(self, noisy_shape: torch.Size, has_ref: bool, num_motion_latent: int = 0) -> TokenLayout:
        """Packed-sequence layout for noisy latents of shape [B, C, T, H, W] (see ``TokenLayout``)."""
        return packed_layout(self.config.patch_size, noisy_shape, has_ref, num_motion_latent)

    # -- forward -----------------------------------------------------------------------------------
    def forward(
        self,
        noisy_latents: Tensor,
        timestep: Tensor,
        text_emb: Tensor | None = None,
        text_mask: Tensor | None = None,
        ref_latents: Tensor | None = None,
        motion_latents: Tensor | None = None,
        audio_feats: Tensor | None = None,
        pose_maps: Tensor | None = None,
        text_on: Tensor | None = None,
        audio_on: Tensor | None = None,
        pose_on: Tensor | None = None,
        pose_feats: Tensor | None = None,
    ) -> Tensor:
        """Velocity prediction for the noisy frames only.

        Args:
            noisy_latents: [B, C, T, H, W] noisy VAE latents x_t.
            timestep: [B] flow-matching sigma in [0, 1].
            text_emb: [B, L, C_text] text-encoder token embeddings, or None (no text at all).
            text_mask: bool [B, L], False on padding tokens (None = all valid).
            ref_latents: [B, C, 1, H, W] reference-image latent, or None.
            motion_latents: [B, C, Tm, H, W] clean latents of the previous segment's last frames, or None.
            audio_feats: [B, F, L_layers, C_audio] 25 fps audio features, F = 1 + 4 (T - 1), or None.
            pose_maps: [B, 3, F, 8H, 8W] skeleton maps, or None (zero pose features).
            text_on, audio_on, pose_on: bool [B] per-sample switches (None = on when the input is given);
                an off condition takes its null path (text keys masked, audio cross-attention zeroed,
                pose features zeroed), the same as running that sample without it.
            pose_feats: [B, C_p * (2w + 1), T, H, W] precomputed ``pose_guider(pose_maps)``, used instead
                of ``pose_maps`` (sampling reuses them: they depend on neither the noise level nor the
                guidance branch).

        Returns:
            [B, C, T, H, W] prediction, the same shape as ``noisy_latents``.
        """
        cfg = self.config
        b, _, t, h, w = noisy_latents.shape
        pt, ph, pw = cfg.patch_size
        n_motion = 0 if motion_latents is None else motion_latents.shape[2]
        layout = self.token_layout(noisy_latents.shape, ref_latents is not None, n_motion)

        # 1. pose features stacked on the noisy latents' channels; zeros for ref/motion/off samples
        noisy_in = with_pose_features(noisy_latents, self.pose_guider, cfg.pose_feature_channels, pose_maps,
                                      pose_feats, pose_on)

        # 2. patch-embed and pack [ref | motion | noisy]                   [B, N, D]
        parts = []
        if ref_latents is not None:
            parts.append(self._embed_clean(ref_latents.expand(-1, -1, pt, -1, -1)))
        if motion_latents is not None:
            parts.append(self._embed_clean(motion_latents))
        parts.append(self.patch_embed(noisy_in))
        x = torch.cat(parts, dim=1)

        # 3. 3D RoPE: reference at time 0 (identity temporal rotation), motion at -Tm..-1, noisy at 0..T-1
        positions = layout.temporal_positions().to(x.device)
        rope = video_rope(positions, h // ph, w // pw, cfg.rope_axes_dim, cfg.rope_theta, cfg.rope_spatial_scale)

        # 4. timestep and text stream; padding and text-off samples are masked out as keys
        temb = F.silu(self.time_embed(timestep))  # [B, D]
        context, key_mask = None, None
        if text_emb is not None:
            context = self.context_embedder(text_emb)  # [B, L, D]
            if text_mask is not None or text_on is not None:
                text_keys = torch.ones(text_emb.shape[:2], dtype=torch.bool, device=x.device)
                if text_mask is not None:
                    text_keys = text_keys & text_mask.bool()
                if text_on is not None:
                    text_keys = text_keys & text_on.bool()[:, None]
                video_keys = torch.ones(b, layout.n_video, dtype=torch.bool, device=x.device)
                key_mask = torch.cat([video_keys, text_keys], dim=1)  # [B, N + L]

        # 5. audio tokens per token-frame
        audio = None
        if audio_feats is not None:
            if self.audio_adapter is None:
                raise ValueError("audio_feats given but the config has with_audio=False")
            tokens, valid = self.audio_adapter(audio_feats.to(x.dtype), t, pt)
            audio = AudioContext(tokens, valid, None if audio_on is None else audio_on.bool())

        # 6. blocks
        noisy_start = layout.noisy_slice.start
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x, context = checkpoint(
                    block, x, context, temb, rope, key_mask, noisy_start, audio, use_reentrant=False
                )
            else:
                x, context = block(x, context, temb, rope, key_mask, noisy_start, audio)

        # 7. final adaLN + linear on the noisy tokens, unpatchify           [B, C, T, H, W]
        out = self.final_layer(x[:, noisy_start:], temb)  # [B, N_noisy, pt * ph * pw * C]
        return rearrange(
            out,
            "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)",
            t=t // pt,
            h=h // ph,
            w=w // pw,
            pt=pt,
            ph=ph,
            pw=pw,
        )

    def _embed_clean(self, latents: Tensor) -> Tensor:
        """Patch-embed clean latents (reference / motion) with zero pose channels -> [B, N, D]."""
        pad = latents.new_zeros(latents.shape[0], self.config.pose_feature_channels, *latents.shape[2:])
        return self.patch_embed(torch.cat([latents, pad], dim=1))


# --------------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------------
def count_parameters(config: OmniHumanConfig) -> int:
    """Parameters of the model built from ``config``, counted on the meta device (no memory used)."""
    with torch.device("meta"):
        model = OmniHumanTransformer(config)
    return sum(p.numel() for p in model.parameters())


def parameter_counts(presets: tuple[str, ...] = ("tiny", "base", "paper")) -> dict[str, int]:
    """Parameter count of each named preset, e.g. ``{"tiny": 7.3e4, "base": ..., "paper": ...}``."""
    return {name: count_parameters(OmniHumanConfig.from_preset(name)) for name in presets}
