"""Face share and face-crop similarity: a copy of the reference scores a face everywhere, noise scores none."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem
from omnihuman_pipeline.metrics.identity import FaceIdentityMetric, crop_similarity


@pytest.fixture(scope="module")
def talking():
    from omnihuman_pipeline.corpus.talking import talking_clip

    return talking_clip(seed=0, duration_s=0.4).frames  # 10 frames, 256 px, the mouth moving


def test_the_reference_itself_scores_a_face_in_every_frame_and_high_similarity(talking):
    """Frames of the reference's own clip: face in every frame, SSIM near 1; noise: no face, SSIM near 0."""
    metric = FaceIdentityMetric()
    same = metric.score_video(VideoItem("a", talking, reference=talking[0]))
    assert same.values["face_share"] == 1.0 and same.values["identity_ssim_face"] > 0.6
    assert same.values["identity_psnr_face"] > 20
    noise = np.random.default_rng(0).integers(0, 256, talking.shape, dtype=np.uint8)
    other = metric.score_video(VideoItem("b", noise, reference=talking[0]))
    assert other.values["face_share"] == 0.0 and other.values["identity_ssim_face"] < 0.1
    with pytest.raises(MetricFailure, match="no_reference"):
        metric.score_video(VideoItem("c", talking))


def test_crop_similarity_of_identical_crops():
    """Identical crops: SSIM 1 and infinite PSNR."""
    a = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ssim, psnr = crop_similarity(a, a)
    assert ssim == pytest.approx(1.0) and psnr == float("inf")
