"""Attention kernels and the dual-stream joint attention of the MMDiT (SD3 / HunyuanVideo style).

Two interchangeable backends compute softmax(Q K^T / sqrt(d)) V:

* ``"sdpa"`` (default): ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient
  kernels on GPU, a fused kernel on CPU);
* ``"math"``: the plain reference implementation that materialises the [N, N] score matrix; the
  benchmark uses it to measure what SDPA buys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rope import RopeFreqs, apply_rope

ATTENTION_BACKENDS = ("sdpa", "math")


def attention(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None, backend: str = "sdpa"
) -> Tensor:
    """Scaled dot-product attention over heads.

    Args:
        q: [B, H, Nq, Dh] queries.
        k: [B, H, Nk, Dh] keys.
        v: [B, H, Nk, Dh] values.
        key_mask: optional bool [B, Nk]; False keys are ignored. Every query must keep >= 1 key.
        backend: ``"sdpa"`` or ``"math"``.

    Returns:
        [B, H, Nq, Dh].
    """
    mask = None if key_mask is None else key_mask[:, None, None, :]  # [B, 1, 1, Nk]
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if backend == "math":
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # [B, H, Nq, Nk]
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(dim=-1).to(v.dtype) @ v
    raise ValueError(f"unknown attention backend {backend!r}; choose one of {ATTENTION_BACKENDS}")


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned scale, used for QK-norm over the head dimension."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x_f = x.float()
        x_f = x_f * torch.rsqrt(x_f.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x_f * self.weight.float()).type_as(x)


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """[B, N, H*Dh] -> [B, H, N, Dh]."""
    return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, N, Dh] -> [B, N, H*Dh]."""
    return x.transpose(1, 2).flatten(2)


class JointAttention(nn.Module):
    """Joint attention of a video stream and a text stream with separate projections per stream.

    Queries, keys and values of both streams are concatenated ([video, text]) and attend jointly;
    RoPE rotates only the video part. With ``context_pre_only`` (the last block, as in SD3) text
    tokens serve only as keys/values, so the block has no text query or text output projection.

    Args:
        dim: hidden size D.
        num_heads: heads H (head dim D / H).
        context_pre_only: the text stream produces no output in this block.
        eps: QK-norm epsilon.
        backend: attention backend, see :data:`ATTENTION_BACKENDS`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        context_pre_only: bool = False,
        eps: float = 1e-6,
        backend: str = "sdpa",
    ) -> None:
        super().__init__()
        head_dim = dim // num_heads
        self.num_heads = num_heads
        self.context_pre_only = context_pre_only
        self.backend = backend
        # video stream
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_q, self.norm_k = RMSNorm(head_dim, eps), RMSNorm(head_dim, eps)
        self.to_out = nn.Linear(dim, dim)
        # text stream
        self.add_k_proj, self.add_v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_added_k = RMSNorm(head_dim, eps)
        if not context_pre_only:
            self.add_q_proj = nn.Linear(dim, dim)
            self.norm_added_q = RMSNorm(head_dim, eps)
            self.to_add_out = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, context: Tensor | None, rope: RopeFreqs, key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Attend over cat(video, text).

        Args:
            x: [B, N, D] video tokens (reference, motion and noisy).
            context: [B, L, D] text tokens, or None for video-only attention.
            rope: tables for the N video tokens.
            key_mask: bool [B, N + L] (or [B, N] without text); False keys are ignored.

        Returns:
            ``(x_out [B, N, D], context_out [B, L, D] | None)``.
        """
        n_video = x.shape[1]
        # 1. video projections, QK-norm, RoPE                          [B, H, N, Dh]
        q = apply_rope(self.norm_q(split_heads(self.to_q(x), self.num_heads)), rope)
        k = apply_rope(self.norm_k(split_heads(self.to_k(x), self.num_heads)), rope)
        v = split_heads(self.to_v(x), self.num_heads)

        # 2. text projections (no RoPE), joined after the video tokens  [B, H, N + L, Dh]
        if context is not None:
            k = torch.cat(
                [k, self.norm_added_k(split_heads(self.add_k_proj(context), self.num_heads))], dim=2
            )
            v = torch.cat([v, split_heads(self.add_v_proj(context), self.num_heads)], dim=2)
            if not self.context_pre_only:
                q_ctx = self.norm_added_q(split_heads(self.add_q_proj(context), self.num_heads))
                q = torch.cat([q, q_ctx], dim=2)

        # 3. joint attention, then per-stream output projections
        out = merge_heads(attention(q, k, v, key_mask, self.backend))  # [B, N (+ L), D]
        x_out = self.to_out(out[:, :n_video])
        ctx_out = None
        if context is not None and not self.context_pre_only:
            ctx_out = self.to_add_out(out[:, n_video:])
        return x_out, ctx_out
