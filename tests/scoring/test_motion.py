"""Tests of the optical-flow motion scorer."""

import numpy as np
import pytest

from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.motion import DISMotion, FarnebackMotion, motion_stats


def _clip(frames):
    return AnalysisClip(frames=frames, fps=25.0)


@pytest.fixture(scope="module", params=[DISMotion, FarnebackMotion], ids=["dis", "farneback"])
def scorer(request):
    s = request.param()
    s.setup()
    return s


def test_motion_stats_constant_and_alternating_flow():
    """A constant global flow has jitter 0; a flow that reverses every frame has jitter 2|v|."""
    v = np.zeros((8, 8, 2), np.float32)
    v[..., 0] = 3.0
    smooth = motion_stats([[v, v, v]], scale=2.0)
    assert smooth.mean == pytest.approx(6.0) and smooth.camera == pytest.approx(6.0) and smooth.jitter == 0
    shaky = motion_stats([[v, -v, v]], scale=1.0)
    assert shaky.jitter == pytest.approx(6.0) and shaky.mean == pytest.approx(3.0)


def test_motion_orders_static_normal_shaky(scorer, static_clip, carphone_clip, pan_clip, shaky_clip):
    """static < real talking video and slow pan < shaky, each step by a clear factor."""
    static, talk, pan, shaky = (scorer.score(c) for c in (static_clip, carphone_clip, pan_clip, shaky_clip))
    assert static.error is None and static.backend == scorer.backend
    assert static.value < 0.1
    assert talk.value > 5 * static.value and pan.value > 5 * static.value
    assert shaky.value > 3 * max(talk.value, pan.value)


def test_pan_amplitude_is_px_per_frame_at_256(scorer, pan_clip):
    """A 2.06 px/frame pan of 256-px frames measures ~2.06 px/frame although flow runs at 128 px."""
    score = scorer.score(pan_clip)
    assert score.extra["camera"] == pytest.approx(np.hypot(2.0, 0.5), rel=0.05)
    full = type(scorer)(short_side=256).score(pan_clip)
    assert full.extra["camera"] == pytest.approx(score.extra["camera"], rel=0.05)


def test_jitter_separates_shake_from_fast_smooth_motion(scorer, fast_pan_clip, zoom_clip, shaky_clip):
    """A fast pan moves more than 1 px/frame per px of jitter x 20; shake has jitter > its own motion."""
    fast, zoom, shaky = (scorer.score(c) for c in (fast_pan_clip, zoom_clip, shaky_clip))
    assert fast.value > 5
    assert fast.extra["jitter"] < 0.5 and zoom.extra["jitter"] < 0.5
    assert shaky.extra["jitter"] > 10 * max(fast.extra["jitter"], zoom.extra["jitter"], 0.5)
    assert shaky.extra["jitter"] > shaky.extra["camera"]


def test_too_short_clip_fails_cleanly(scorer, static_clip):
    """Fewer frames than one window give Score.failed('too_short'), not an exception."""
    score = scorer.score(_clip(static_clip.frames[:2]))
    assert score.error == "too_short" and np.isnan(score.value)


def test_invalid_config_raises():
    """A window of one frame cannot give flow, an unknown DIS preset is no preset: ValueError at construction."""
    with pytest.raises(ValueError):
        FarnebackMotion(window=1)
    with pytest.raises(ValueError):
        DISMotion(preset="warp")


def test_corpus_generator_clips_fall_in_separate_ranges(scorer):
    """The tiny corpus's static, Ken Burns and shaky clips (corpus.synth) land in disjoint motion/jitter ranges."""
    from omnihuman_pipeline.corpus import synth

    image = synth.load_image("coffee")
    static, smooth, shaky = (
        scorer.score(_clip(frames))
        for frames in (
            synth.static(image, 30, (256, 320), noise_std=1.0),
            synth.ken_burns(image, 30, (256, 320)),
            synth.shaky(image, 30, (256, 320)),
        )
    )
    assert static.value < 0.1 < 1.0 < smooth.value < 2.5 < 8.0 < shaky.value
    assert smooth.extra["jitter"] < 0.2 and shaky.extra["jitter"] > 10
