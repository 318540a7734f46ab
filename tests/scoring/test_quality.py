"""Tests of the BRISQUE quality scorer."""

import cv2
import numpy as np
import pytest

from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.quality import (
    BrisqueQuality,
    _gamma_ratio,
    aggd_fit,
    aggd_shape,
    brisque_score,
    load_svr,
)


def _clip(frames):
    return AnalysisClip(frames=frames, fps=25.0)


@pytest.fixture(scope="module")
def model():
    return load_svr()


def test_astronaut_matches_reference_brisque(model, astronaut):
    """The astronaut at 512 px scores 10.79, as stock `brisque` 0.2.0 does on numpy 2.3."""
    assert brisque_score(astronaut, model) == pytest.approx(10.79, abs=0.05)


def test_blur_and_noise_score_worse(model, astronaut):
    """Gaussian blur and additive noise each raise BRISQUE by more than 30 points."""
    ref = brisque_score(astronaut, model)
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 3)
    noisy = np.clip(astronaut + np.random.default_rng(0).normal(0, 25, astronaut.shape), 0, 255).astype(
        np.uint8
    )
    assert brisque_score(blurred, model) > ref + 30
    assert brisque_score(noisy, model) > ref + 30


def test_scorer_takes_median_over_sampled_frames(astronaut):
    """One blurred frame among five does not move the clip's median; `worst` reports it."""
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 3)
    frames = np.stack([astronaut, astronaut, blurred, astronaut, astronaut])
    scorer = BrisqueQuality(n_frames=5)
    scorer.setup()
    score = scorer.score(_clip(frames))
    assert score.backend == "brisque" and score.error is None
    assert score.value == pytest.approx(10.79, abs=0.05)
    assert score.extra["worst"] > 40 and score.extra["n_frames"] == 5


def test_resizing_to_analysis_resolution(astronaut):
    """`short_side` rescales frames first; the 256-px astronaut is still a clean image (< 30)."""
    score = BrisqueQuality(n_frames=1, short_side=256).score(_clip(astronaut[None]))
    assert 10 < score.value < 30


def test_empty_clip_and_missing_model(tmp_path, astronaut):
    """No frames give 'too_short'; a model folder without svm.txt raises FileNotFoundError in setup."""
    assert BrisqueQuality().score(_clip(np.zeros((0, 8, 8, 3), np.uint8))).error == "too_short"
    with pytest.raises(FileNotFoundError):
        BrisqueQuality(model_dir=str(tmp_path)).setup()


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.0, 7.5])
def test_aggd_shape_solves_the_moment_equation(alpha):
    """Laplacian (alpha 1: ratio 1/2) and Gaussian (alpha 2: ratio 2/pi) among them, to 1e-9."""
    assert aggd_shape(_gamma_ratio(alpha)) == pytest.approx(alpha, rel=1e-9)
    assert _gamma_ratio(1.0) == pytest.approx(0.5) and _gamma_ratio(2.0) == pytest.approx(2 / np.pi)


def test_aggd_shape_outside_the_ratio_range_returns_the_bracket_end():
    assert aggd_shape(0.0) == 1e-3
    assert aggd_shape(0.75) == 1e3  # the ratio only tends to 3/4


def test_aggd_fit_moments_of_each_side():
    """Left/right variances are the mean squares of the negative / non-negative samples, and a Gaussian's fitted
    shape is ~2 with mean ~0 (float32 input, as the MSCN maps)."""
    rng = np.random.default_rng(0)
    # an asymmetric Gaussian (AGGD, alpha 2): each side holds a share of the mass proportional to its scale
    x = np.concatenate([-np.abs(rng.normal(0, 0.5, 20_000)), np.abs(rng.normal(0, 2.0, 80_000))]).astype(np.float32)
    alpha, _, sl2, sr2 = aggd_fit(x.reshape(200, 500))
    assert sl2 == pytest.approx(float(np.mean(x[x < 0].astype(np.float64) ** 2)), rel=1e-5)
    assert sr2 == pytest.approx(float(np.mean(x[x >= 0].astype(np.float64) ** 2)), rel=1e-5)
    assert alpha == pytest.approx(2.0, abs=0.05)
    alpha, mean, sl2, sr2 = aggd_fit(rng.normal(0, 1, (300, 300)).astype(np.float32))
    assert alpha == pytest.approx(2.0, abs=0.05) and abs(mean) < 0.02 and sl2 == pytest.approx(sr2, rel=0.02)
