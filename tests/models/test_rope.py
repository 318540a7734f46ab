"""3D RoPE: reference tokens rotate only spatially; video tokens' RoPE ignores the reference."""

from __future__ import annotations

import torch

from omnihuman_pipeline.models import TokenLayout, apply_rope, video_rope

AXES = (4, 6, 6)


def _rope(layout: TokenLayout, h: int = 2, w: int = 3):
    return video_rope(layout.temporal_positions(), h, w, AXES, 10_000.0)


def test_reference_temporal_rotation_is_identity() -> None:
    """Every reference token has cos=1, sin=0 on the temporal channels and the noisy grid's spatial angles."""
    layout = TokenLayout(tokens_per_frame=6, n_ref_frames=1, n_motion_frames=2, n_noisy_frames=3)
    rope = _rope(layout)
    ref = slice(0, layout.n_ref)
    assert torch.equal(rope.cos[ref, : AXES[0]], torch.ones(6, AXES[0]))
    assert torch.equal(rope.sin[ref, : AXES[0]], torch.zeros(6, AXES[0]))
    first_noisy = slice(layout.noisy_slice.start, layout.noisy_slice.start + 6)
    assert torch.equal(rope.cos[ref, AXES[0] :], rope.cos[first_noisy, AXES[0] :])
    assert torch.equal(rope.sin[ref, AXES[0] :], rope.sin[first_noisy, AXES[0] :])
    # the spatial part is not trivially the identity
    assert not torch.allclose(rope.sin[ref, AXES[0] :], torch.zeros(6, sum(AXES[1:])))
    q = torch.randn(1, 1, layout.n_video, sum(AXES))
    rotated = apply_rope(q, rope)
    assert torch.allclose(rotated[..., ref, : AXES[0]], q[..., ref, : AXES[0]])


def test_video_rope_unchanged_by_reference_and_motion() -> None:
    """The noisy tokens' RoPE tables are identical with and without reference / motion tokens."""
    plain = TokenLayout(tokens_per_frame=6, n_ref_frames=0, n_motion_frames=0, n_noisy_frames=3)
    packed = TokenLayout(tokens_per_frame=6, n_ref_frames=1, n_motion_frames=2, n_noisy_frames=3)
    a, b = _rope(plain), _rope(packed)
    assert torch.equal(a.cos, b.cos[packed.noisy_slice]) and torch.equal(a.sin, b.sin[packed.noisy_slice])


def test_rope_is_relative_and_norm_preserving() -> None:
    """q.k after RoPE depends only on the position difference, and rotations keep vector norms."""
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def dot(tq: float, tk: float) -> torch.Tensor:
        fq = video_rope(torch.tensor([tq]), 1, 1, AXES, 10_000.0)
        fk = video_rope(torch.tensor([tk]), 1, 1, AXES, 10_000.0)
        return (apply_rope(q, fq) * apply_rope(k, fk)).sum()

    assert torch.allclose(dot(3.0, 1.0), dot(7.0, 5.0), atol=1e-5)
    f = video_rope(torch.tensor([5.0]), 2, 2, AXES, 10_000.0)
    x = torch.randn(1, 2, 4, 16)
    assert torch.allclose(apply_rope(x, f).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
