"""Index maths between pixel frames, causal-VAE latent frames and the packed token sequence."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.models import (
    TokenLayout,
    audio_token_index,
    latent_frame_loss_mask,
    latent_to_pixel_frames,
    motion_latent_frames,
    num_latent_frames,
    num_pixel_frames,
    pixel_to_latent_frame,
)


def test_pixel_latent_mapping_causal_vae() -> None:
    """Latent 0 holds pixel frame 0 alone; latent k>=1 holds pixel frames 4k-3..4k, and the maps invert."""
    assert latent_to_pixel_frames(0) == [0]
    assert latent_to_pixel_frames(1) == [1, 2, 3, 4]
    assert latent_to_pixel_frames(20) == [77, 78, 79, 80]
    assert [pixel_to_latent_frame(f) for f in range(10)] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3]
    for k in range(25):
        assert all(pixel_to_latent_frame(f) == k for f in latent_to_pixel_frames(k))
    assert num_latent_frames(81) == 21 and num_pixel_frames(21) == 81


def test_num_latent_frames_rejects_non_causal_lengths() -> None:
    """A pixel length that is not 1 + 4k is an error, not a silent truncation."""
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        num_latent_frames(80)


def test_motion_latent_frames_last_five_pixel_frames() -> None:
    """The last 5 pixel frames of a segment live in its last 2 latent frames (4 + 1 frames)."""
    assert motion_latent_frames(81) == [19, 20]
    assert motion_latent_frames(9) == [1, 2]
    assert motion_latent_frames(5) == [0, 1]
    assert motion_latent_frames(81, num_motion_pixel_frames=4) == [20]


def test_audio_token_index_window_zero_is_own_pixel_frames() -> None:
    """With window 0 each latent frame's valid audio slots are exactly its own pixel frames."""
    index, valid = audio_token_index(num_latent=3, num_audio_frames=9, window=0)
    assert index.shape == valid.shape == (3, 4)
    assert index[0][valid[0]].tolist() == [0]
    assert index[1][valid[1]].tolist() == [1, 2, 3, 4]
    assert index[2][valid[2]].tolist() == [5, 6, 7, 8]


def test_audio_token_index_window_masks_out_of_clip_neighbours() -> None:
    """With window 2, neighbours outside the clip are invalid and the rest are f-2..f+2 per pixel frame."""
    index, valid = audio_token_index(num_latent=2, num_audio_frames=5, window=2)
    assert index.shape == (2, 4 * 5)
    assert index[0][valid[0]].tolist() == [0, 1, 2]
    slots = index[1].view(4, 5)
    assert slots[1].tolist() == [0, 1, 2, 3, 4] and bool(valid[1].view(4, 5)[1].all())
    assert valid[1].view(4, 5)[3].tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="audio frames"):
        audio_token_index(num_latent=2, num_audio_frames=6, window=2)


def test_token_layout_loss_mask_excludes_reference_and_motion() -> None:
    """The loss mask is True exactly on the noisy tokens, after reference and motion tokens."""
    layout = TokenLayout(tokens_per_frame=4, n_ref_frames=1, n_motion_frames=2, n_noisy_frames=3)
    mask = layout.loss_mask()
    assert mask.shape == (4 * 6,)
    assert not mask[: 4 * 3].any() and mask[4 * 3 :].all()
    assert layout.noisy_slice == slice(12, 24)
    assert layout.temporal_positions().tolist() == [0.0, -2.0, -1.0, 0.0, 1.0, 2.0]


def test_latent_frame_loss_mask() -> None:
    """Clip-level mask when motion latents lead the clip: motion frames False, noisy frames True."""
    assert latent_frame_loss_mask(2, 3).tolist() == [False, False, True, True, True]
    assert latent_frame_loss_mask(0, 2).dtype == torch.bool


def test_audio_token_times_are_relative_to_the_latent_frames_last_pixel_frame() -> None:
    from omnihuman_pipeline.models.latent_layout import audio_token_index, audio_token_times

    times = audio_token_times(3, window=1)
    index, valid = audio_token_index(3, 9, window=1)
    assert times.shape == index.shape == (3, 12)
    last = torch.tensor([0, 4, 8])[:, None]
    assert torch.equal((index - last)[valid].float(), times[valid])  # a valid slot's time is its frame's
    assert times[2].tolist() == [-4, -3, -2, -3, -2, -1, -2, -1, 0, -1, 0, 1]
