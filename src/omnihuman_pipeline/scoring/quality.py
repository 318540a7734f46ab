"""No-reference image quality: BRISQUE (Mittal, Moorthy & Bovik 2012) with the `brisque` package's SVR.

`brisque` 0.2.0 crashes on numpy >= 2.4 (a feature comes out as a 1-element array and `float()` refuses it),
so the 36 natural-scene-statistics features are computed here, exactly as that package computes them
(zero-padded 7x7 Gaussian window, sigma 7/6, AGGD moment fit started at alpha 0.2, a second scale by bicubic
halving), and scored with the SVR model and min/max scaling the package ships (`brisque/models/`). The
epsilon-SVR with an RBF kernel is evaluated in numpy. The astronaut scores 10.796 (stock `brisque` on numpy
2.3: 10.795). The only divergence is deliberate: the Gaussian window runs through `cv2.filter2D` (10x faster
than `scipy.signal.convolve2d`); on exactly flat regions the MSCN value is 0 +- 1e-11 rounding noise whose sign
differs between the two, which moves the AGGD left/right split by a few hundred pixels. The image statistics are
computed in float32 (the reference uses float64): 40 % faster (5.0 vs 8.3 ms a 342x192 frame), and scores move by
< 0.002 on photos, by up to 0.25 on synthetic flat or gradient images, where flat-region noise dominates. Scores are
roughly 0-100, lower is better; BRISQUE depends on resolution, so compare clips at the same analysis resolution.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from omnihuman_pipeline.scoring._frames import resize_short_side, spread_indices
from omnihuman_pipeline.scoring.base import AnalysisClip, Score

GAUSS_SIZE, GAUSS_SIGMA = 7, 7 / 6
MSCN_C = 1 / 255  # stabilises the division on flat regions (image in [0, 1])
RGB_TO_GRAY = np.array([0.2125, 0.7154, 0.0721], np.float32)  # skimage.color.rgb2gray, as the reference implementation


@dataclass(frozen=True)
class SvrModel:
    """An epsilon-SVR with an RBF kernel: f(x) = sum_i coef_i * exp(-gamma * |x - sv_i|^2) - rho."""

    support_vectors: np.ndarray  # [N, 36]
    coefs: np.ndarray  # [N]
    gamma: float
    rho: float
    feature_min: np.ndarray  # [36], features are scaled to [-1, 1] with these before the SVR
    feature_max: np.ndarray  # [36]

    def predict(self, features: np.ndarray) -> float:
        x = -1 + 2.0 * (features - self.feature_min) / (self.feature_max - self.feature_min)
        d2 = np.sum((self.support_vectors - x) ** 2, axis=1)
        return float(self.coefs @ np.exp(-self.gamma * d2) - self.rho)


def default_model_dir() -> Path:
    """The folder of the SVR model the `brisque` package ships, found without importing `brisque`."""
    spec = importlib.util.find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'brisque' package (which ships the BRISQUE SVR model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def load_svr(model_dir: str | Path | None = None) -> SvrModel:
    """Read a libsvm text model (`svm.txt`) and its feature scaling (`normalize.pickle`).

    Args:
        model_dir: folder holding both files; None takes the model the `brisque` package ships.

    Returns:
        The model, ready for `SvrModel.predict`.
    """
    folder = Path(model_dir) if model_dir else default_model_dir()
    header: dict[str, str] = {}
    coefs, svs = [], []
    with open(folder / "svm.txt") as fh:
        for line in fh:
            if line.strip() == "SV":
                break
            key, _, val = line.strip().partition(" ")
            header[key] = val
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            coefs.append(float(parts[0]))
            row = np.zeros(36)
            for item in parts[1:]:
                idx, val = item.split(":")
                row[int(idx) - 1] = float(val)
            svs.append(row)
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(f"{folder / 'svm.txt'}: expected an epsilon_svr with an rbf kernel, got {header}")
    with open(folder / "normalize.pickle", "rb") as fh:
        scale = pickle.load(fh)  # noqa: S301  (the package's own file)
    as_vec = lambda values: np.array([float(np.asarray(v).reshape(-1)[0]) for v in values])  # noqa: E731
    return SvrModel(
        np.asarray(svs),
        np.asarray(coefs),
        float(header["gamma"]),
        float(header["rho"]),
        as_vec(scale["min_"]),
        as_vec(scale["max_"]),
    )


def _gaussian_window(n: int = GAUSS_SIZE, sigma: float = GAUSS_SIGMA) -> np.ndarray:
    y, x = np.indices((n, n)) - n // 2
    k = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return k / k.sum()


def mscn(gray: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a float32 image in [0, 1], [H, W]."""
    import cv2

    k = _gaussian_window().astype(np.float32)
    # zero padding, as scipy.signal.convolve2d(..., "same") in the reference implementation
    mu = cv2.filter2D(gray, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT)
    sq = cv2.filter2D(gray * gray, cv2.CV_32F, k, borderType=cv2.BORDER_CONSTANT)
    sigma = np.sqrt(np.abs(mu * mu - sq))
    return (gray - mu) / (sigma + np.float32(MSCN_C))


def _gamma_ratio(alpha: float) -> float:
    """rho(alpha) = Gamma(2/alpha)^2 / (Gamma(1/alpha) Gamma(3/alpha)), increasing from 0 to 3/4."""
    return math.exp(2 * math.lgamma(2 / alpha) - math.lgamma(1 / alpha) - math.lgamma(3 / alpha))


def aggd_shape(big_r: float, lo: float = 1e-3, hi: float = 1e3) -> float:
    """The AGGD shape alpha with `_gamma_ratio(alpha) == big_r`, by bisection in log(alpha).

    The reference (`brisque` 0.2.0) solves the same equation with `scipy.optimize.root` from 0.2; `_gamma_ratio`
    is monotonic, so the root is unique and bisection finds it to 1e-12 (relative) without scipy (whose import
    costs each worker ~0.25 s). Outside the ratio's range the bracket's nearer end is returned.
    """
    if not big_r > _gamma_ratio(lo):
        return lo
    if not big_r < _gamma_ratio(hi):
        return hi
    a, b = math.log(lo), math.log(hi)
    while b - a > 1e-12:
        m = (a + b) / 2
        a, b = (m, b) if _gamma_ratio(math.exp(m)) < big_r else (a, m)
    return math.exp((a + b) / 2)


def aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching.

    The moments come from the clipped halves min(x, 0) and max(x, 0) (BLAS dot products, no boolean-index copies:
    4x faster than selecting each side, and equal to 1e-6).

    Returns:
        (alpha, mean, sigma_left^2, sigma_right^2).
    """
    x = x.ravel()
    left, right = np.minimum(x, 0), np.maximum(x, 0)
    n_left = int(np.count_nonzero(x < 0))
    n_right = x.size - n_left
    left_sq, right_sq = float(np.dot(left, left)), float(np.dot(right, right))
    sl2 = left_sq / n_left if n_left else 0.0
    sr2 = right_sq / n_right if n_right else 0.0
    mean_abs = (float(right.sum(dtype=np.float64)) - float(left.sum(dtype=np.float64))) / x.size
    r_hat = mean_abs**2 / ((left_sq + right_sq) / x.size)
    g = math.sqrt(sl2) / math.sqrt(sr2) if sr2 > 0 else math.inf
    big_r = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2 if math.isfinite(g) else math.nan
    alpha = aggd_shape(big_r) if math.isfinite(big_r) else math.nan
    if not math.isfinite(alpha):
        return math.nan, math.nan, sl2, sr2
    const = math.sqrt(math.gamma(1 / alpha) / math.gamma(3 / alpha))
    mean = (math.sqrt(sr2) - math.sqrt(sl2)) * const * math.gamma(2 / alpha) / math.gamma(1 / alpha)
    return alpha, float(mean), sl2, sr2


def brisque_features_one_scale(gray: np.ndarray) -> np.ndarray:
    """18 features: AGGD fit of the MSCN map and of its 4 neighbour products. gray: float [H, W] in [0, 1]."""
    m = mscn(gray)
    alpha, _, sl2, sr2 = aggd_fit(m)
    feats = [alpha, (sl2 + sr2) / 2]
    for prod in (
        m[:, :-1] * m[:, 1:],
        m[:-1, :] * m[1:, :],
        m[:-1, :-1] * m[1:, 1:],
        m[1:, :-1] * m[:-1, 1:],
    ):
        feats.extend(aggd_fit(prod))
    return np.asarray(feats, dtype=np.float64)


def brisque_features(image: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of an image at its own and at half resolution.

    Args:
        image: uint8 RGB [H, W, 3] or grayscale [H, W].

    Returns:
        float64 [36].
    """
    import cv2

    img = image.astype(np.float32) / np.float32(255.0)
    gray = img @ RGB_TO_GRAY if img.ndim == 3 else img
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
    return np.concatenate([brisque_features_one_scale(gray), brisque_features_one_scale(half)])


def brisque_score(image: np.ndarray, model: SvrModel) -> float:
    """BRISQUE of one image (lower is better, ~0-100); NaN for a flat image, which has no statistics.

    Args:
        image: uint8 RGB [H, W, 3] or grayscale [H, W].
        model: from `load_svr()`.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = brisque_features(image)
    return model.predict(feats) if np.all(np.isfinite(feats)) else float("nan")


@dataclass
class BrisqueQuality:
    """Quality scorer: median BRISQUE over frames spread across the clip.

    Attributes:
        n_frames: frames scored per clip.
        short_side: resize frames to this short side (px) first; None scores them at analysis resolution.
        model_dir: folder with `svm.txt` and `normalize.pickle`; None takes the `brisque` package's model.
    """

    signal: ClassVar[str] = "quality"
    backend: ClassVar[str] = "brisque"

    n_frames: int = 5
    short_side: int | None = None
    model_dir: str | None = None
    _model: SvrModel | None = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._model is None:
            self._model = load_svr(self.model_dir)

    def score(self, clip: AnalysisClip) -> Score:
        if len(clip.frames) == 0:
            return Score.failed(self.backend, "too_short")
        self.setup()
        scores = np.array(
            [
                brisque_score(resize_short_side(clip.frames[i], self.short_side), self._model)
                for i in spread_indices(len(clip.frames), self.n_frames)
            ]
        )
        ok = scores[np.isfinite(scores)]
        if ok.size == 0:
            return Score.failed(self.backend, "flat_frames", n_frames=len(scores))
        return Score(
            float(np.median(ok)), self.backend, None, {"worst": float(ok.max()), "n_frames": int(ok.size)}
        )


QUALITY_BACKENDS: dict[str, type] = {"brisque": BrisqueQuality}
