"""Fréchet distance between two Gaussians fitted to feature sets (the distance behind FID and FVD).

    d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^½)

`frechet_distance` is the computation FID papers use (TTUR / pytorch-fid / StyleGAN-V): `scipy.linalg.sqrtm` of the
product, with pytorch-fid's numerical fixes (eps on the diagonals when the product is singular, the real part when
rounding leaves a tiny imaginary one). `frechet_distance_eigh` gets the same trace from the eigenvalues of the
symmetric PSD matrix S1^½ S2 S1^½ (same spectrum as S1 S2): equal to 1e-7 relative, never complex, and much faster
(2048-d features, 500 per set, 2 CPU cores: 2.0 s against 56.5 s for sqrtm). The bootstrap uses it, since it
recomputes the distance for every resample.
Covariances are unbiased (`np.cov`, ddof 1), as in pytorch-fid and StyleGAN-V.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

SINGULAR_EPS = 1e-6  # added to both diagonals when sqrtm of the product is not finite (pytorch-fid)
IMAG_TOLERANCE = 1e-3  # largest |imaginary part| on the diagonal of sqrtm accepted as rounding (pytorch-fid)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of features [N, D] (N >= 2), float64."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least 2 feature vectors [N, D], got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = SINGULAR_EPS) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) with `scipy.linalg.sqrtm`.

    Args:
        mu1, mu2: means [D].
        sigma1, sigma2: covariances [D, D].
        eps: diagonal offset used when the product is singular.

    Returns:
        d² (squared units of the features), >= 0 up to rounding.

    Raises:
        ValueError: shapes differ, or sqrtm leaves an imaginary part above `IMAG_TOLERANCE`.
    """
    import scipy.linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes differ: {mu1.shape}/{mu2.shape}, {sigma1.shape}/{sigma2.shape}")
    # 1. squared distance of the means
    diff = mu1 - mu2
    # 2. square root of the covariance product; a singular product gets eps on both diagonals
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        logger.warning("Fréchet distance: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(len(sigma1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    # 3. rounding may leave a tiny imaginary component; a large one means the result is meaningless
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAG_TOLERANCE):
            raise ValueError(f"sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    # 4. the trace form
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_eigh(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The same distance through symmetric eigendecompositions: Tr (S1 S2)^½ = sum sqrt(eig(S1^½ S2 S1^½)).

    Args and returns as `frechet_distance`; eigenvalues below 0 (rounding) count as 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_from_features(generated: np.ndarray, real: np.ndarray, *, fast: bool = False) -> float:
    """Fréchet distance between Gaussians fitted to generated [N, D] and real [M, D] features."""
    mu1, s1 = gaussian_stats(generated)
    mu2, s2 = gaussian_stats(real)
    return frechet_distance_eigh(mu1, s1, mu2, s2) if fast else frechet_distance(mu1, s1, mu2, s2)
