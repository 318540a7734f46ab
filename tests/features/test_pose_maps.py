"""Pose keypoint interpolation and DWPose-style skeleton drawing."""

from __future__ import annotations

import numpy as np

from omnihuman_pipeline.features.pose_maps import BODY_COLORS, interpolate_keypoints, render_pose_maps


def test_interpolation_bridges_short_gaps_only():
    """Linear between samples <= max_gap apart, held <= max_gap at the ends, NaN across longer gaps."""
    index = np.array([2, 4, 20])
    pts = np.array([[0.2, 0.5, 1.0], [0.4, 0.5, 1.0], [0.9, 0.5, 1.0]], np.float32)[:, None]
    out = interpolate_keypoints(index, pts, n_frames=30, max_gap=3)[:, 0]
    assert np.isclose(out[3, 0], 0.3) and out[2, 0] == np.float32(0.2)
    assert np.isclose(out[0, 0], 0.2) and np.isnan(out[10, 0]) and np.isclose(out[23, 0], 0.9)
    assert np.isnan(out[24, 0])


def test_invalid_samples_are_ignored():
    """NaN or zero-confidence samples are skipped, not interpolated through."""
    index = np.array([0, 1, 2])
    pts = np.array([[0.1, 0.1, 1.0], [np.nan, np.nan, np.nan], [0.3, 0.1, 1.0]], np.float32)[:, None]
    out = interpolate_keypoints(index, pts, n_frames=3, max_gap=4)[:, 0]
    assert np.isclose(out[1, 0], 0.2)


def test_render_draws_limbs_and_joints_in_openpose_colours():
    """Neck->right-shoulder limb and the joints appear in their colours; missing joints draw nothing."""
    body = np.full((1, 18, 3), np.nan, np.float32)
    body[0, 1] = (0.5, 0.3, 1.0)
    body[0, 2] = (0.3, 0.3, 1.0)
    maps = render_pose_maps(body, None, 128, 96, stick_width=8, joint_radius=8)
    assert maps.shape == (1, 96, 128, 3) and maps.dtype == np.uint8
    assert tuple(maps[0, 29, 64]) == BODY_COLORS[1]  # the neck joint, drawn on top
    limb = tuple(maps[0, 29, 51])
    assert limb == tuple(int(c * 0.6) for c in BODY_COLORS[0])  # limb 0 (neck-r.shoulder), dimmed
    assert maps[0, :10].sum() == 0 and maps[0, 60:].sum() == 0
    assert render_pose_maps(np.full((2, 18, 3), np.nan, np.float32), None, 32, 32).sum() == 0
