"""Tests of the Fréchet distance against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from omnihuman_pipeline.metrics import frechet


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_matches_scipy_sqrtm_formula():
    """Random SPD covariances: equals |mu1-mu2|² + Tr(S1 + S2 - 2 sqrtm(S1 S2)) evaluated with scipy here."""
    rng = np.random.default_rng(0)
    mu1, mu2, s1, s2 = rng.normal(size=6), rng.normal(size=6), _spd(rng, 6), _spd(rng, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert frechet.frechet_distance_eigh(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_symmetric_form_agrees():
    """Tr sqrtm(S1 S2) equals Tr sqrtm(S1^½ S2 S1^½) (scipy twice), which the eigh variant computes."""
    rng = np.random.default_rng(1)
    s1, s2 = _spd(rng, 5), _spd(rng, 5)
    r1 = np.real(scipy.linalg.sqrtm(s1))
    sym = np.trace(np.real(scipy.linalg.sqrtm(r1 @ s2 @ r1)))
    assert np.trace(np.real(scipy.linalg.sqrtm(s1 @ s2))) == pytest.approx(sym, rel=1e-9)
    zero = np.zeros(5)
    assert frechet.frechet_distance_eigh(zero, s1, zero, s2) == pytest.approx(np.trace(s1 + s2) - 2 * sym, rel=1e-8)


def test_diagonal_closed_form():
    """Diagonal covariances: d² = |mu1-mu2|² + sum (sqrt a - sqrt b)², by hand."""
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = (1 + 0 + 4) + (1 + 1 + 0)  # means 5, covariances (1-2)² + (2-1)² + 0
    assert frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    assert frechet.frechet_distance_eigh(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_features_rank_deficient_and_identical():
    """Fewer samples than dimensions (as a small test set in 2048-d): both variants agree; a set against itself is 0."""
    rng = np.random.default_rng(2)
    gen, real = rng.normal(size=(20, 32)), rng.normal(1.0, 2.0, size=(25, 32))
    slow, fast = frechet.frechet_from_features(gen, real), frechet.frechet_from_features(gen, real, fast=True)
    assert slow == pytest.approx(fast, rel=1e-6) and slow > 32  # means 1 apart in 32 dims, variance 4 vs 1
    assert frechet.frechet_from_features(real, real, fast=True) == pytest.approx(0.0, abs=1e-6)


def test_singular_product_is_finite():
    """A zero covariance makes the product singular: the value is finite and equals the exact one."""
    s = np.diag([1.0, 2.0])
    value = frechet.frechet_distance(np.zeros(2), np.zeros((2, 2)), np.ones(2), s)
    assert np.isfinite(value) and value == pytest.approx(2 + 3, abs=1e-2)


def test_gaussian_stats_unbiased_and_validated():
    """Mean and np.cov (ddof 1) of the features; fewer than two vectors raise."""
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = frechet.gaussian_stats(x)
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, [[4.0, 7.0], [7.0, 13.0]])
    with pytest.raises(ValueError):
        frechet.gaussian_stats(x[:1])
