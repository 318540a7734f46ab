"""The lossless patchify codec: layout and compression of the causal VAE, bit-exact round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.features.codec import PatchifyCodec, dequantize, to_uint8, to_unit
from omnihuman_pipeline.features.shards import FeatureStore, PendingEntry
from omnihuman_pipeline.models.latent_layout import latent_to_pixel_frames


@pytest.fixture()
def video() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (13, 32, 48, 3), dtype=np.uint8)


def test_shapes_follow_the_causal_vae(video):
    """13 frames of 32x48 -> [768, 4, 4, 6]: first frame alone, then groups of 4, 8x spatial."""
    codec = PatchifyCodec()
    latents = codec.encode(video).latents()
    assert latents.shape == (3 * 4 * 8 * 8, 4, 4, 6) and latents.dtype == torch.float32
    assert latents.min() >= -1 and latents.max() <= 1


def test_uint8_round_trip_is_bit_exact(video):
    """encode -> [-1, 1] latents -> decode -> uint8 returns the input exactly."""
    codec = PatchifyCodec()
    assert np.array_equal(to_uint8(codec.decode(codec.encode(video).latents())), video)


def test_float_round_trip_is_bit_exact(video):
    """For uint8 video mapped to [-1, 1] floats, decode(encode(x)) == x bit for bit."""
    codec = PatchifyCodec()
    x = to_unit(video)
    assert torch.equal(codec.decode(codec.encode_unit(x)), x)
    assert torch.allclose(codec.encode(video).latents(), codec.encode_unit(x), rtol=0, atol=1e-6)


def test_latent_frame_k_holds_pixel_frames_of_latent_layout(video):
    """Latent frame k is exactly the pixels of `latent_to_pixel_frames(k)`; frame 0 is replicated."""
    codec = PatchifyCodec()
    latents = codec.encode(video).stored  # uint8 [768, T, h, w], channels (c, dt, dy, dx)
    grouped = latents.reshape(3, 4, 8, 8, 4, 4, 6)
    for k in range(4):
        frames = latent_to_pixel_frames(k)
        frames = frames * 4 if k == 0 else frames
        for dt, f in enumerate(frames):
            patch = grouped[:, dt, :, :, k, 1, 2].permute(1, 2, 0).numpy()  # cell (1, 2): pixels 8..16, 16..24
            assert np.array_equal(patch, video[f, 8:16, 16:24])


def test_round_trip_through_a_shard_is_exact(tmp_path, video):
    """Stored as uint8 in a shard, dequantised and decoded, the video comes back exactly."""
    codec = PatchifyCodec()
    stored = codec.encode(video)
    store = FeatureStore.at(str(tmp_path))
    [entry] = store.write_shard([PendingEntry("c", "video", "h", codec.name, {"latents": stored.stored}, {})])
    back = store.read(entry)["latents"]
    latents = dequantize(back, stored.scale, stored.offset)
    assert back.dtype == torch.uint8 and np.array_equal(to_uint8(codec.decode(latents)), video)


def test_rejects_lengths_not_one_plus_4k():
    """A causal layout needs F = 1 + 4k frames."""
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        PatchifyCodec().encode(np.zeros((8, 16, 16, 3), np.uint8))
