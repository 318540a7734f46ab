"""Tests of the frame-sampling helpers."""

import numpy as np

from omnihuman_pipeline.scoring._frames import resize_short_side, spread_indices, window_starts


def test_spread_indices_cover_clip_evenly():
    """k indices are the centres of k equal segments, unique and in range, fewer for short clips."""
    assert spread_indices(100, 4).tolist() == [12, 37, 62, 87]
    assert spread_indices(3, 10).tolist() == [0, 1, 2]
    assert spread_indices(0, 5).size == 0


def test_window_starts_fit_inside_clip():
    """Windows start at both ends of the clip and never run past its last frame."""
    starts = window_starts(50, 3, 8)
    assert starts[0] == 0 and starts[-1] == 47 and len(starts) == 8
    assert window_starts(2, 3, 8).size == 0
    assert window_starts(4, 3, 8).tolist() == [0, 1]


def test_resize_short_side_keeps_aspect():
    """The short side reaches the target and the aspect ratio is kept; None is a no-op."""
    img = np.zeros((144, 176, 3), np.uint8)
    assert resize_short_side(img, 256).shape == (256, 313, 3)
    assert resize_short_side(img, None) is img
