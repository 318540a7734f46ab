"""Clip decoding rules: bucket size, 1 + 4k trimming, audio pad/trim, bad media statuses."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.features.clip_media import (
    ClipFeatureError,
    bucket_size,
    fit_audio,
    read_clip_audio,
    read_clip_video,
    reference_index,
    usable_frames,
)


@pytest.mark.parametrize(("n", "cap", "expected"), [(1, 0, 1), (4, 0, 1), (5, 0, 5), (8, 0, 5), (9, 0, 9),
                                                    (75, 0, 73), (100, 49, 49), (100, 50, 49), (0, 0, 0)])
def test_usable_frames_trims_the_tail_to_1_plus_4k(n, cap, expected):
    """F decoded frames keep the largest 1 + 4k <= min(F, cap)."""
    assert usable_frames(n, cap) == expected


@pytest.mark.parametrize(("size", "short", "expected"), [((1280, 720), 480, (848, 480)), ((720, 1280), 256, (256, 448)),
                                                        ((176, 144), 128, (160, 128)), ((64, 48), 32, (48, 32))])
def test_bucket_keeps_aspect_with_multiples_of_16(size, short, expected):
    """The short side becomes `short_side`, the long side keeps the aspect, both multiples of 16."""
    w, h = bucket_size(*size, short, 16)
    assert (w, h) == expected and w % 16 == 0 and h % 16 == 0


def test_fit_audio_pads_short_and_trims_long_tracks():
    """Audio becomes exactly F / fps seconds: zeros appended, or the tail cut."""
    short = fit_audio(np.ones(1000, np.float32), n_frames=5, fps=25, sample_rate=16_000)
    long = fit_audio(np.ones(9000, np.float32), n_frames=5, fps=25, sample_rate=16_000)
    assert len(short) == len(long) == 3200
    assert short[:1000].all() and not short[1000:].any() and long.all()


def test_read_clip_trims_to_1_plus_4k_at_the_bucket(clip_dir):
    """An 11-frame 64x48 clip decodes to 9 frames at 48x32."""
    video = read_clip_video(clip_dir / "a.mp4", short_side=32, multiple=16, fps=25, max_frames=0, min_frames=5)
    assert video.frames.shape == (9, 32, 48, 3) and video.decoded == 11


def test_short_audio_is_padded_to_the_video_length(clip_dir):
    """A 0.2 s track under a 13-frame clip is zero-padded to 13 / 25 s; no track gives None."""
    audio = read_clip_audio(clip_dir / "short_audio.mp4", n_frames=13, fps=25, sample_rate=16_000)
    assert len(audio) == 13 * 640 and np.abs(audio[:2000]).max() > 0.1 and not audio[-1500:].any()
    assert read_clip_audio(clip_dir / "b.mp4", n_frames=9, fps=25, sample_rate=16_000) is None


@pytest.mark.parametrize(("name", "status"), [("missing.mp4", "missing_media"), ("corrupt.mp4", "decode_failed")])
def test_bad_media_raise_a_status(clip_dir, name, status):
    """Missing and undecodable files raise ClipFeatureError with their status."""
    with pytest.raises(ClipFeatureError) as err:
        read_clip_video(clip_dir / name, short_side=32, multiple=16, fps=25, max_frames=0, min_frames=5)
    assert err.value.status == status


def test_too_short_clip(clip_dir):
    """Fewer usable frames than `min_frames` -> too_short."""
    with pytest.raises(ClipFeatureError) as err:
        read_clip_video(clip_dir / "b.mp4", short_side=32, multiple=16, fps=25, max_frames=0, min_frames=13)
    assert err.value.status == "too_short"


def test_reference_frame_is_seeded_and_in_range():
    """`random` is a function of (clip id, seed); `first` and `middle` are fixed."""
    picks = [reference_index(f"c{i}", 49, "random", 0) for i in range(50)]
    assert picks == [reference_index(f"c{i}", 49, "random", 0) for i in range(50)]
    assert all(0 <= p < 49 for p in picks) and len(set(picks)) > 10
    assert reference_index("c", 49, "first", 0) == 0 and reference_index("c", 49, "middle", 0) == 24
