"""OmniHuman's conditions on diffusers' Wan2.1 text-to-video transformer (``WanTransformer3DModel``).

The paper fine-tunes a pretrained text-to-video DiT (§3.1, §3.3); Wan2.1 is the open one the public
audio-driven models start from. The backbone's own modules are used as they are (patch embedding,
time/text embedder, blocks, output head); around them this wrapper adds the paper's conditions exactly
as the native model does:

* reference image -> same patch embedding, packed before the video tokens; temporal RoPE position 0.
  Wan computes its RoPE from the latent grid, so the packed sequence gets its own positions here,
  with Wan's frequencies (``wan_rope``);
* motion frames   -> clean latents packed before the noisy tokens at times -Tm..-1, outside the loss;
* text            -> Wan's own text cross-attention (umT5 states, padding zeroed as Wan's pipeline does;
  a text-off sample gets all-zero states, the padding Wan already attends to);
* audio           -> the native multi-scale audio adapter and a frame-wise audio cross-attention after
  every Wan block, output projection zero-initialised;
* pose            -> pose-guider features stacked on the patch embedding's input channels: the old
  channels are Wan's, the new ones start at zero.

The zero-init invariant: with audio and pose just added (and no reference or motion frames), the
output equals the bare diffusers model's output on the same input. Wan predicts the flow velocity
``eps - x0`` with ``x_t = (1 - sigma) x0 + sigma eps`` and timesteps ``1000 sigma``, the convention of
``flow_matching.py``, so training uses ``flow.prediction: velocity``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .attention import ATTENTION_BACKENDS
from .audio_adapter import AudioAdapter, FrameAudioCrossAttention
from .config import OmniHumanConfig
from .latent_layout import TokenLayout, packed_layout
from .pose_guider import PoseGuider, with_pose_features

# Wan's sampling time is 1000 sigma (its scheduler's num_train_timesteps).
WAN_TIMESTEP_SCALE = 1000.0
# Fields of a diffusers WanTransformer3DModel config that this wrapper supports as they come.
WAN_CLASS = "WanTransformer3DModel"


def wan_rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Wan's split of a head into (t, h, w) rotary dims: h = w = 2 * (head_dim // 6), t the rest."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def wan_omni_config(backbone_config: Mapping[str, Any], **omni: Any) -> OmniHumanConfig:
    """The :class:`OmniHumanConfig` of a Wan backbone: its sizes from the diffusers config, the rest from ``omni``.

    Args:
        backbone_config: a ``WanTransformer3DModel`` config (``config.json`` of its folder).
        **omni: the OmniHuman fields that Wan does not define (audio, pose, ``with_*``), and the feature
            channels to check: ``in_channels`` and ``text_dim`` must equal the backbone's.

    Raises:
        ValueError: the features' latent channels or text width differ from the backbone's (both named).
    """
    bc = {k: v for k, v in dict(backbone_config).items() if not k.startswith("_")}
    if bc.get("image_dim") or bc.get("added_kv_proj_dim"):
        raise ValueError("the Wan backbone is an image-to-video model (image_dim / added_kv_proj_dim set): "
                         "use a text-to-video transformer folder (Wan2.1-T2V)")
    heads, head_dim = int(bc["num_attention_heads"]), int(bc["attention_head_dim"])
    dim = heads * head_dim
    own = {"in_channels": int(bc["in_channels"]), "text_dim": int(bc["text_dim"])}
    for name, value in own.items():
        given = omni.pop(name, value)
        if int(given) != value:
            what = "latent channels" if name == "in_channels" else "text width"
            raise ValueError(
                f"the features' {what} is {given} but the Wan backbone's {name} is {value}: encode the features "
                f"with the backbone's own {'VAE (wan_vae, 16 channels)' if name == 'in_channels' else 'text encoder (umt5, 4096)'}")
    for name in ("hidden_size", "num_layers", "num_heads", "patch_size", "rope_axes_dim", "rope_theta", "mlp_ratio"):
        omni.pop(name, None)  # the backbone decides these
    return OmniHumanConfig(
        **own,
        patch_size=tuple(bc.get("patch_size", (1, 2, 2))),
        hidden_size=dim,
        num_layers=int(bc["num_layers"]),
        num_heads=heads,
        mlp_ratio=int(bc["ffn_dim"]) / dim,
        rope_axes_dim=wan_rope_axes(head_dim),
        rope_theta=10_000.0,
        timestep_freq_dim=int(bc.get("freq_dim", 256)),
        timestep_scale=WAN_TIMESTEP_SCALE,
        norm_eps=float(bc.get("eps", 1e-6)),
        backbone="wan",
        backbone_config=bc,
        **omni,
    )


def wan_rope(positions: Tensor, height: int, width: int, head_dim: int, theta: float = 10_000.0,
             ) -> tuple[Tensor, Tensor]:
    """Wan's 3D rotary table for arbitrary token-frame times (reference at 0, motion at -Tm..-1, ...).

    Same frequencies and layout as diffusers' ``WanRotaryPosEmbed`` (which only knows times 0..T-1).

    Args:
        positions: [F] float time of each token-frame.
        height, width: token grid.
        head_dim: attention head dim.
        theta: RoPE base.

    Returns:
        ``(cos, sin)``, each [1, F * height * width, 1, head_dim], frame-major like the token sequence.
    """
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    t_dim, h_dim, w_dim = wan_rope_axes(head_dim)
    n = positions.shape[0]
    tables = []
    for dim, pos, shape in ((t_dim, positions, (n, 1, 1)), (h_dim, torch.arange(height), (1, height, 1)),
                            (w_dim, torch.arange(width), (1, 1, width))):
        cos, sin = get_1d_rotary_pos_embed(dim, pos.to(torch.float64).cpu(), theta, use_real=True,
                                           repeat_interleave_real=True, freqs_dtype=torch.float64)
        tables.append([t.view(*shape, dim).expand(n, height, width, dim) for t in (cos, sin)])
    cos = torch.cat([t[0] for t in tables], dim=-1).reshape(1, n * height * width, 1, head_dim)
    sin = torch.cat([t[1] for t in tables], dim=-1).reshape(1, n * height * width, 1, head_dim)
    return cos.to(positions.device), sin.to(positions.device)


class WanOmniTransformer(nn.Module):
    """A diffusers ``WanTransformer3DModel`` with OmniHuman's reference, motion, audio and pose conditions.

    Args:
        config: from :func:`wan_omni_config` (``backbone="wan"``, the diffusers config in ``backbone_config``).
        backend: attention backend of the audio cross-attention (``sdpa`` | ``math``); Wan's own attention
            runs through diffusers' dispatcher.

    Same call and output as :class:`~omnihuman_pipeline.models.OmniHumanTransformer`, so training and
    generation use either. ``model.backbone`` is the diffusers model (LoRA adapters go there).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ("WanTransformerBlock",)

    def __init__(self, config: OmniHumanConfig, backend: str = "sdpa") -> None:
        super().__init__()
        from diffusers import WanTransformer3DModel

        if config.backbone != "wan" or not config.backbone_config:
            raise ValueError("WanOmniTransformer needs a config from wan_omni_config (backbone wan + its config)")
        self.config = config
        self.gradient_checkpointing = False
        self.backbone = WanTransformer3DModel.from_config(dict(config.backbone_config))
        d = config.hidden_size
        if config.with_pose:  # the patch embedding grows by the pose channels; Wan's channels come first
            old = self.backbone.patch_embedding
            grown = nn.Conv3d(config.patch_in_channels, d, kernel_size=old.kernel_size, stride=old.stride)
            with torch.no_grad():
                grown.weight.zero_()
                grown.weight[:, : config.in_channels].copy_(old.weight)
                grown.bias.copy_(old.bias)
            self.backbone.patch_embedding = grown
        self.audio_adapter = (
            AudioAdapter(config.audio_layers, config.audio_dim, config.audio_hidden, d, config.audio_window,
                         config.vae_temporal_factor, time_code=config.audio_time_code)
            if config.with_audio else None
        )
        self.audio_attn = (
            nn.ModuleList(FrameAudioCrossAttention(d, config.num_heads, config.norm_eps, backend)
                          for _ in range(config.num_layers))
            if config.with_audio else None
        )
        self.pose_guider = (
            PoseGuider(config.pose_channels, config.pose_guider_widths, config.pose_window, config.vae_temporal_factor)
            if config.with_pose else None
        )
        self.set_attention_backend(backend)

    # -- setup -------------------------------------------------------------------------------------
    def set_attention_backend(self, backend: str) -> None:
        """Backend of the audio cross-attention (``"sdpa"`` | ``"math"``)."""
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"unknown attention backend {backend!r}; choose one of {ATTENTION_BACKENDS}")
        for module in self.modules():
            if isinstance(module, FrameAudioCrossAttention):
                module.backend = backend

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block (Wan block + its audio cross-attention) in the backward pass."""
        self.gradient_checkpointing = enabled

    def token_layout(self, noisy_shape: torch.Size, has_ref: bool, num_motion_latent: int = 0) -> TokenLayout:
        """Packed-sequence layout for noisy latents of shape [B, C, T, H, W] (see ``TokenLayout``)."""
        return packed_layout(self.config.patch_size, noisy_shape, has_ref, num_motion_latent)

    def new_module_names(self) -> list[str]:
        """Parameter names this wrapper adds to the backbone (trained fully under LoRA)."""
        names = [n for n, _ in self.named_parameters() if not n.startswith("backbone.")]
        return names + ["backbone.patch_embedding.weight", "backbone.patch_embedding.bias"]

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
        """Velocity prediction for the noisy frames only (arguments as ``OmniHumanTransformer.forward``)."""
        cfg, bb = self.config, self.backbone
        b, _, t, h, w = noisy_latents.shape
        pt, ph, pw = cfg.patch_size
        n_motion = 0 if motion_latents is None else motion_latents.shape[2]
        layout = self.token_layout(noisy_latents.shape, ref_latents is not None, n_motion)

        # 1. pose features stacked on the noisy latents' channels (zeros for ref / motion / pose off)
        noisy_in = with_pose_features(noisy_latents, self.pose_guider, cfg.pose_feature_channels, pose_maps,
                                      pose_feats, pose_on)

        # 2. patch-embed and pack [ref | motion | noisy] with Wan's patch embedding      [B, N, D]
        parts = []
        if ref_latents is not None:
            parts.append(self._embed(self._with_zero_pose(ref_latents.expand(-1, -1, pt, -1, -1))))
        if motion_latents is not None:
            parts.append(self._embed(self._with_zero_pose(motion_latents)))
        parts.append(self._embed(noisy_in))
        x = torch.cat(parts, dim=1)

        # 3. Wan's RoPE at the packed times: reference 0, motion -Tm..-1, noisy 0..T-1
        rope = wan_rope(layout.temporal_positions().to(x.device), h // ph, w // pw, cfg.head_dim)

        # 4. time and text through Wan's embedder; masked / off text is zeroed (Wan's padding)
        if text_emb is None:
            text_emb = x.new_zeros(b, 1, cfg.text_dim)
        else:
            keep = torch.ones(text_emb.shape[:2], dtype=torch.bool, device=x.device)
            if text_mask is not None:
                keep = keep & text_mask.bool()
            if text_on is not None:
                keep = keep & text_on.bool()[:, None]
            text_emb = text_emb * keep[..., None].to(text_emb.dtype)
        temb, timestep_proj, context, _ = bb.condition_embedder(timestep * WAN_TIMESTEP_SCALE, text_emb.to(x.dtype))
        timestep_proj = timestep_proj.unflatten(1, (6, -1))  # [B, 6, D]

        # 5. audio tokens per token-frame
        audio = None
        if audio_feats is not None:
            if self.audio_adapter is None:
                raise ValueError("audio_feats given but the config has with_audio=False")
            audio = self.audio_adapter(audio_feats.to(x.dtype), t, pt)
            audio_on = None if audio_on is None else audio_on.bool()

        # 6. Wan blocks, each followed by the frame-wise audio cross-attention on the noisy tokens
        start = layout.noisy_slice.start
        for i, block in enumerate(bb.blocks):
            args = (block, i, x, context, timestep_proj, rope, start, audio, audio_on)
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(self._block, *args, use_reentrant=False)
            else:
                x = self._block(*args)

        # 7. Wan's output head on the noisy tokens, unpatchify                            [B, C, T, H, W]
        shift, scale = (bb.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
        y = x[:, start:]
        y = (bb.norm_out(y.float()) * (1 + scale) + shift).type_as(y)
        out = bb.proj_out(y)
        return rearrange(out, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)",
                         t=t // pt, h=h // ph, w=w // pw, pt=pt, ph=ph, pw=pw)

    def _block(self, block: nn.Module, i: int, x: Tensor, context: Tensor, timestep_proj: Tensor,
               rope: tuple[Tensor, Tensor], start: int, audio: tuple[Tensor, Tensor] | None,
               audio_on: Tensor | None) -> Tensor:
        x = block(x, context, timestep_proj, rope)
        if audio is None or self.audio_attn is None:
            return x
        noisy = x[:, start:]
        noisy = noisy + self.audio_attn[i](noisy, audio[0], audio[1], audio_on).to(noisy.dtype)
        return torch.cat([x[:, :start], noisy], dim=1)

    def _embed(self, latents: Tensor) -> Tensor:
        return self.backbone.patch_embedding(latents).flatten(2).transpose(1, 2)

    def _with_zero_pose(self, latents: Tensor) -> Tensor:
        """Clean latents (reference / motion) with zero pose channels."""
        if not self.config.with_pose:
            return latents
        pad = latents.new_zeros(latents.shape[0], self.config.pose_feature_channels, *latents.shape[2:])
        return torch.cat([latents, pad], dim=1)


# --------------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------------
# Public configs of the Wan2.1 text-to-video transformers (diffusers' transformer/config.json).
WAN_T2V_CONFIGS: dict[str, dict[str, Any]] = {
    "1.3B": {"_class_name": WAN_CLASS, "patch_size": [1, 2, 2], "num_attention_heads": 12, "attention_head_dim": 128,
             "in_channels": 16, "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 8960,
             "num_layers": 30, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
             "image_dim": None, "added_kv_proj_dim": None, "rope_max_seq_len": 1024},
    "14B": {"_class_name": WAN_CLASS, "patch_size": [1, 2, 2], "num_attention_heads": 40, "attention_head_dim": 128,
            "in_channels": 16, "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 13824,
            "num_layers": 40, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
            "image_dim": None, "added_kv_proj_dim": None, "rope_max_seq_len": 1024},
}


def wan_parameter_counts(config: OmniHumanConfig) -> dict[str, int]:
    """Parameters of the backbone, of what OmniHuman adds, and in total (built on the meta device)."""
    with torch.device("meta"):
        model = WanOmniTransformer(config)
    added = set(model.new_module_names())
    counts = {"backbone": 0, "added": 0}
    for name, p in model.named_parameters():
        counts["added" if name in added and not name.startswith("backbone.patch") else "backbone"] += p.numel()
    pose_in = config.pose_feature_channels * config.hidden_size * math.prod(config.patch_size)
    counts["backbone"] -= pose_in  # the pose input channels of the patch embedding are new
    counts["added"] += pose_in
    counts["total"] = counts["backbone"] + counts["added"]
    return counts


def read_diffusers_weights(folder: str | Path) -> dict[str, Tensor]:
    """The state dict of a diffusers model folder: one ``*.safetensors`` file or the shards of its index."""
    from safetensors.torch import load_file

    folder = Path(folder)
    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        files = sorted(set(json.loads(index[0].read_text())["weight_map"].values()))
    else:
        files = [p.name for p in sorted(folder.glob("*.safetensors"))]
    if not files:
        raise FileNotFoundError(f"{folder} holds no *.safetensors weights (expected a diffusers model folder, "
                                "e.g. the transformer/ folder of Wan-AI/Wan2.1-T2V-1.3B-Diffusers)")
    state: dict[str, Tensor] = {}
    for name in files:
        state.update(load_file(str(folder / name)))
    return state


def read_diffusers_config(folder: str | Path) -> dict[str, Any]:
    """``config.json`` of a diffusers model folder, checked to be a Wan text-to-video transformer."""
    file = Path(folder) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: point wan_t2v at the transformer/ folder of a "
                                "Wan2.1 text-to-video diffusers checkpoint")
    config = json.loads(file.read_text())
    if config.get("_class_name") != WAN_CLASS:
        raise ValueError(f"{file} is a {config.get('_class_name')!r}, not a {WAN_CLASS}: point wan_t2v at the "
                         "transformer/ folder of Wan-AI/Wan2.1-T2V-1.3B-Diffusers (or the 14B one)")
    return config
