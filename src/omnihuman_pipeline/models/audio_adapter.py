"""Audio condition (paper §3.2): multi-scale audio features -> frame-wise audio tokens -> cross-attention.

0. The features are standardised per channel with the training clips' mean and standard deviation, held
   as buffers in the weights (``AudioAdapter.set_feature_stats``, set when a stage first adds audio).
   Speech encoders' hidden states are mostly a constant offset (Whisper tiny.en on the talking corpus: the
   per-channel mean is 50-88 % of each layer's energy); unstandardised, the MLP's output varied by 3.5 %
   of its size across frames and a trained model drew the same mouth for any audio.
1. An MLP compresses the multi-scale features of every 25 fps audio frame ([L_layers, C]) to width D.
2. Each frame is joined by its ±window neighbours; a latent frame's audio tokens are the windows of
   the pixel frames it encodes (``latent_layout.audio_token_index``). With ``time_code`` each token gets
   a sinusoidal code of its time relative to the latent frame's last pixel frame: attention is blind to
   the order of its keys, and a latent cell holds several pixel frames, so without the code a video
   token can only follow the loudness averaged over its latent frame.
3. In every block, each noisy video token attends only to the audio tokens of its own latent frame
   (computed by folding time into the batch: [B * T, S, D] queries vs [B * T, K, D] keys).
   The output projection is zero-initialised, so adding audio to a stage-1 model changes nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import RMSNorm, attention, merge_heads, split_heads
from .latent_layout import audio_token_index, audio_token_times

TIME_CODE_PERIODS = (4.0, 64.0)  # shortest and longest period of the time code, in pixel frames


def audio_time_code(times: Tensor, dim: int) -> Tensor:
    """Sinusoidal code [..., dim] (RMS 1, like the LayerNorm'd tokens it is added to) of times in pixel frames."""
    half = dim // 2
    lo, hi = TIME_CODE_PERIODS
    periods = lo * (hi / lo) ** (torch.arange(half, device=times.device, dtype=torch.float32) / max(half - 1, 1))
    angles = 2 * torch.pi * times.float()[..., None] / periods
    code = torch.cat([angles.sin(), angles.cos()], dim=-1) * 2**0.5
    return torch.nn.functional.pad(code, (0, dim - 2 * half))


class AudioAdapter(nn.Module):
    """MLP from multi-scale audio features to hidden size, then windowed audio tokens per latent frame.

    Args:
        num_layers: audio encoder hidden layers stacked in the features (L_layers).
        feature_dim: channels per layer (C).
        hidden_dim: MLP hidden width.
        dim: model hidden size D.
        window: neighbours on each side joined to every 25 fps frame.
        temporal_factor: pixel frames per latent frame (VAE).
        time_code: add each token's time code (:func:`audio_time_code`).
    """

    def __init__(
        self, num_layers: int, feature_dim: int, hidden_dim: int, dim: int, window: int, temporal_factor: int,
        time_code: bool = False,
    ) -> None:
        super().__init__()
        self.window = window
        self.temporal_factor = temporal_factor
        self.time_code = time_code
        self.proj = nn.Sequential(
            nn.Linear(num_layers * feature_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, dim),
        )
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("feature_mean", torch.zeros(num_layers * feature_dim))
        self.register_buffer("feature_std", torch.ones(num_layers * feature_dim))

    @torch.no_grad()
    def set_feature_stats(self, mean: Tensor, std: Tensor) -> None:
        """Standardise the flattened [L_layers * C] features with this mean and standard deviation."""
        self.feature_mean.copy_(mean.reshape(-1))
        self.feature_std.copy_(std.reshape(-1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # weights written before the standardisation buffers existed load as the identity (mean 0, std 1)
        for name in ("feature_mean", "feature_std"):
            state_dict.setdefault(prefix + name, getattr(self, name).new_full(getattr(self, name).shape,
                                                                               float(name == "feature_std")))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(
        self, audio_feats: Tensor, num_latent: int, frames_per_token: int = 1
    ) -> tuple[Tensor, Tensor]:
        """Audio tokens grouped by token-frame.

        Args:
            audio_feats: [B, F, L_layers, C] features at 25 fps, F = 1 + 4 * (num_latent - 1).
            num_latent: latent frames T of the noisy latents.
            frames_per_token: latent frames per token-frame (the patch size pt).

        Returns:
            ``tokens`` [B, T / pt, pt * K, D] and ``valid`` bool [T / pt, pt * K], K = 4 * (2 * window + 1).
        """
        # 1. per-frame MLP at 25 fps                                       [B, F, D]
        feats = (audio_feats.flatten(2) - self.feature_mean.to(audio_feats.dtype)) / self.feature_std.to(audio_feats.dtype)
        frames = self.norm(self.proj(feats))
        # 2. gather each latent frame's windowed audio frames              [B, T, K, D]
        index, valid = audio_token_index(num_latent, frames.shape[1], self.window, self.temporal_factor)
        index, valid = index.to(frames.device), valid.to(frames.device)
        tokens = frames[:, index]
        if self.time_code:
            times = audio_token_times(num_latent, self.window, self.temporal_factor).to(frames.device)
            tokens = tokens + audio_time_code(times, frames.shape[-1]).to(tokens.dtype)
        # 3. group latent frames into token-frames when pt > 1             [B, T / pt, pt * K, D]
        tokens = tokens.unflatten(1, (-1, frames_per_token)).flatten(2, 3)
        valid = valid.unflatten(0, (-1, frames_per_token)).flatten(1, 2)
        return tokens, valid


class FrameAudioCrossAttention(nn.Module):
    """Frame-wise cross-attention from noisy video tokens to their own latent frame's audio tokens.

    Args:
        dim: hidden size D.
        num_heads: heads.
        eps: norm epsilon.
        backend: attention backend (``"sdpa"`` | ``"math"``).
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-6, backend: str = "sdpa") -> None:
        super().__init__()
        head_dim = dim // num_heads
        self.num_heads = num_heads
        self.backend = backend
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_q, self.norm_k = RMSNorm(head_dim, eps), RMSNorm(head_dim, eps)
        self.to_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(
        self, x: Tensor, audio_tokens: Tensor, audio_valid: Tensor, audio_on: Tensor | None
    ) -> Tensor:
        """Cross-attention output for the noisy tokens (zero for samples with audio off).

        Args:
            x: [B, T' * S, D] noisy video tokens, token-frame major.
            audio_tokens: [B, T', K, D].
            audio_valid: bool [T', K].
            audio_on: bool [B] or None (= all on).

        Returns:
            [B, T' * S, D], to be added to ``x``.
        """
        b, n, d = x.shape
        t = audio_tokens.shape[1]
        # 1. fold time into the batch so a frame sees only its own audio  [B * T', S, D], [B * T', K, D]
        q_in = self.norm(x).reshape(b * t, n // t, d)
        kv_in = audio_tokens.flatten(0, 1)
        mask = audio_valid.expand(b, -1, -1).flatten(0, 1)  # [B * T', K]
        # 2. attention with QK-norm                                        [B * T', H, S, Dh]
        q = self.norm_q(split_heads(self.to_q(q_in), self.num_heads))
        k = self.norm_k(split_heads(self.to_k(kv_in), self.num_heads))
        v = split_heads(self.to_v(kv_in), self.num_heads)
        out = self.to_out(merge_heads(attention(q, k, v, mask, self.backend)))  # [B * T', S, D]
        out = out.reshape(b, n, d)  # [B, T' * S, D]
        # 3. per-sample switch: audio off -> no contribution (null path for CFG)
        if audio_on is not None:
            out = out * audio_on.to(out.dtype)[:, None, None]
        return out
