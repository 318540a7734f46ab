"""Aesthetic score on a 1-10 scale (paper §3.3: "aesthetics" filter).

Two backends:

- "image_stats" (offline default, no weights): a fixed, documented combination of classical image statistics.
  It is not the LAION predictor and does not claim its scale; it ranks sharp, well-exposed, contrasty,
  colourful natural images above flat, dark, blurred or noise-like ones.
- "laion": the LAION improved aesthetic predictor (christophschuhmann/improved-aesthetic-predictor,
  `sac+logos+ava1-l14-linearMSE.pth`): a linear-stack MLP on the L2-normalised CLIP ViT-L/14 image embedding,
  loaded through `weights.resolve("laion_aesthetic")` and `weights.resolve("clip_vit_l14")`.

image_stats, per frame at a 256-px short side (luma Y = BT.601 in [0, 255]):

    colourfulness  M = sqrt(sd(rg)^2 + sd(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)     (Hasler & Suesstrunk 2003)
                   rg = R - G, yb = (R + G) / 2 - B;            s_colour   = min(M / 100, 1)
    RMS contrast   C = sd(Y) / 255;                               s_contrast = min(C / 0.3, 1)
    sharpness      K = log10 var(Laplacian(Y));                   s_sharp    = clip((K - 1.5) / 2.5, 0, 1)
    exposure       L = mean(Y) / 255;                             s_exposure = sqrt(1 - |2L - 1|)
    clipping       share q of pixels with Y <= 2 or Y >= 253;     g = 1 - max(0, q - 0.1) / 0.9
    naturalness    slope b of log radial amplitude spectrum vs log frequency (0.02-0.4 cycles/px, Hann window);
                   natural scenes have b ~ -1.2 (Field 1987), white noise 0, heavy blur < -3;
                                                                  n = exp(-((b - B0) / 0.6)^2 / 2), B0 = -1.3
    score = 1 + 9 * n * g * (0.2 s_colour + 0.25 s_contrast + 0.3 s_sharp + 0.25 s_exposure)

Naturalness multiplies because noise is "colourful, contrasty and sharp" by every other statistic; clipping
multiplies because a blown-out frame also looks contrasty and colourful (10 % is tolerated: black backgrounds).
A frame without any spatial variation has n = 0 and scores 1.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring._frames import resize_short_side, spread_indices
from omnihuman_pipeline.scoring.base import AnalysisClip, Score

STATS_SHORT_SIDE = 256
WEIGHTS = {"colour": 0.2, "contrast": 0.25, "sharp": 0.3, "exposure": 0.25}
NATURAL_SLOPE, NATURAL_SLOPE_SD = -1.3, 0.6
SLOPE_BAND = (0.02, 0.4)  # cycles/px: above the Hann window's leakage, below the demosaicing/JPEG band
CLIP_TOLERANCE = 0.1  # share of clipped pixels that costs nothing
LUMA = np.array([0.299, 0.587, 0.114])

# CLIP preprocessing (openai/CLIP `_transform`): bicubic resize of the short side, centre crop, these stats
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
LAION_HEAD_FILE = "sac+logos+ava1-l14-linearMSE.pth"


# --- image_stats ------------------------------------------------------------------------------------------


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness M of a uint8/float RGB image [H, W, 3] in 0-255 (0 = gray, ~100 = vivid)."""
    img = rgb.astype(np.float64)
    rg = img[..., 0] - img[..., 1]
    yb = 0.5 * (img[..., 0] + img[..., 1]) - img[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@functools.lru_cache(maxsize=8)
def _spectrum_bands(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame size: the Hann window, each FFT bin's radial band (0 and len(edges): outside `SLOPE_BAND`), the
    number of bins per band and the log band centres."""
    window = np.outer(np.hanning(h), np.hanning(w))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    edges = np.geomspace(*SLOPE_BAND, 12)
    band = np.digitize(np.hypot(fy, fx).ravel(), edges)
    counts = np.bincount(band, minlength=len(edges) + 1)[1 : len(edges)]
    log_centres = np.log(np.sqrt(edges[:-1] * edges[1:]))
    for a in (window, band, counts, log_centres):
        a.setflags(write=False)
    return window, band, counts, log_centres


def spectral_slope(luma: np.ndarray) -> float:
    """Slope of log radial mean amplitude vs log spatial frequency; NaN for a flat image.

    Args:
        luma: float [H, W].
    """
    y = luma - luma.mean()
    if y.std() < 1e-6:
        return float("nan")
    window, band, counts, log_centres = _spectrum_bands(*y.shape)
    amp = np.abs(np.fft.fft2(y * window)).ravel()
    means = np.bincount(band, weights=amp, minlength=len(counts) + 2)[1 : len(counts) + 1] / counts
    return float(np.polyfit(log_centres, np.log(means + 1e-12), 1)[0])


def image_statistics(rgb: np.ndarray) -> dict[str, float]:
    """The raw statistics behind `image_stats_score`.

    Args:
        rgb: uint8 RGB [H, W, 3], ideally at a 256-px short side (sharpness depends on scale).

    Returns:
        colourfulness (M), contrast (RMS, 0-0.5), sharpness (log10 var of the Laplacian), brightness (0-1),
        clipped (share of pixels at the ends of the range), spectral_slope (NaN when flat).
    """
    import cv2

    luma = rgb.astype(np.float64) @ LUMA
    lap_var = float(cv2.Laplacian(luma, cv2.CV_64F).var())
    return {
        "colourfulness": colourfulness(rgb),
        "contrast": float(luma.std() / 255.0),
        "sharpness": float(np.log10(lap_var + 1e-12)),
        "brightness": float(luma.mean() / 255.0),
        "clipped": float(np.mean((luma <= 2) | (luma >= 253))),
        "spectral_slope": spectral_slope(luma),
    }


def image_stats_score(stats: dict[str, float]) -> float:
    """Map `image_statistics` to 1-10 with the fixed formula in the module docstring."""
    slope = stats["spectral_slope"]
    natural = (
        0.0 if np.isnan(slope) else float(np.exp(-0.5 * ((slope - NATURAL_SLOPE) / NATURAL_SLOPE_SD) ** 2))
    )
    parts = {
        "colour": min(stats["colourfulness"] / 100.0, 1.0),
        "contrast": min(stats["contrast"] / 0.3, 1.0),
        "sharp": float(np.clip((stats["sharpness"] - 1.5) / 2.5, 0.0, 1.0)),
        "exposure": float(np.sqrt(max(0.0, 1 - abs(2 * stats["brightness"] - 1)))),
    }
    clip_gate = 1.0 - max(0.0, stats["clipped"] - CLIP_TOLERANCE) / (1.0 - CLIP_TOLERANCE)
    return 1.0 + 9.0 * natural * clip_gate * sum(WEIGHTS[k] * v for k, v in parts.items())


@dataclass
class ImageStatsAesthetic:
    """Aesthetic scorer from classical image statistics (offline default; not the LAION predictor).

    Attributes:
        n_frames: frames scored per clip; the value is their mean.
    """

    signal: ClassVar[str] = "aesthetic"
    backend: ClassVar[str] = "image_stats"

    n_frames: int = 3

    def setup(self) -> None:
        import cv2  # noqa: F401

    def score(self, clip: AnalysisClip) -> Score:
        idx = spread_indices(len(clip.frames), self.n_frames)
        if len(idx) == 0:
            return Score.failed(self.backend, "too_short")
        stats = [image_statistics(resize_short_side(clip.frames[i], STATS_SHORT_SIDE)) for i in idx]
        values = [image_stats_score(s) for s in stats]
        with warnings.catch_warnings():  # spectral_slope is NaN on every flat frame
            warnings.simplefilter("ignore", RuntimeWarning)
            extra: dict[str, Any] = {k: float(np.nanmean([s[k] for s in stats])) for k in stats[0]}
        return Score(float(np.mean(values)), self.backend, None, extra)


# --- laion --------------------------------------------------------------------------------------------------


def build_laion_head(input_size: int = 768):
    """The improved-aesthetic-predictor MLP with the official module layout.

    Its state dict keys are `layers.{0,2,4,6,7}.{weight,bias}`: Linear(768, 1024), Dropout(0.2),
    Linear(1024, 128), Dropout(0.2), Linear(128, 64), Dropout(0.1), Linear(64, 16), Linear(16, 1); no
    activations (the "linearMSE" checkpoint was trained that way).

    Returns:
        A torch `nn.Module` mapping [B, input_size] L2-normalised embeddings to [B, 1] scores.
    """
    from torch import nn

    class LaionAestheticHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(input_size, 1024),
                nn.Dropout(0.2),
                nn.Linear(1024, 128),
                nn.Dropout(0.2),
                nn.Linear(128, 64),
                nn.Dropout(0.1),
                nn.Linear(64, 16),
                nn.Linear(16, 1),
            )

        def forward(self, x):
            return self.layers(x)

    return LaionAestheticHead()


def clip_preprocess(frames: np.ndarray, size: int) -> np.ndarray:
    """CLIP image preprocessing without torchvision: bicubic short-side resize, centre crop, normalise.

    Args:
        frames: uint8 RGB [K, H, W, 3].
        size: the vision model's input size (224 for ViT-L/14).

    Returns:
        float32 [K, 3, size, size].
    """
    from PIL import Image

    out = np.empty((len(frames), 3, size, size), dtype=np.float32)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        scale = size / min(h, w)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.BICUBIC), dtype=np.float32) / 255.0
        top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
        img = (img[top : top + size, left : left + size] - CLIP_MEAN) / CLIP_STD
        out[i] = img.transpose(2, 0, 1)
    return out


def load_laion_models(head_path: str | None = None, clip_path: str | None = None, device: str = "cpu"):
    """Load the CLIP vision tower and the aesthetic head from local files (never downloads).

    Args:
        head_path: the head's `.pth` state dict; None asks `weights.resolve("laion_aesthetic")`.
        clip_path: a transformers `CLIPVisionModelWithProjection` folder; None asks `resolve("clip_vit_l14")`.
        device: torch device string.

    Returns:
        (clip_model, head), both in eval mode on `device`.

    Raises:
        WeightsNotFoundError: a file is missing; the message names it and where it is published.
        ValueError: the CLIP projection size does not match the head's input.
    """
    import torch
    from transformers import CLIPVisionModelWithProjection

    from omnihuman_pipeline.weights import resolve

    head_file = resolve("laion_aesthetic", head_path)
    clip_dir = resolve("clip_vit_l14", clip_path)
    clip_model = CLIPVisionModelWithProjection.from_pretrained(str(clip_dir), local_files_only=True)
    state = torch.load(head_file, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    dim = clip_model.config.projection_dim
    if state["layers.0.weight"].shape[1] != dim:
        raise ValueError(
            f"{head_file}: head expects {state['layers.0.weight'].shape[1]}-d embeddings, "
            f"the CLIP model at {clip_dir} gives {dim}-d (the LAION head needs ViT-L/14)"
        )
    head = build_laion_head(dim)
    head.load_state_dict(state)
    return clip_model.eval().to(device), head.eval().to(device)


def laion_scores(frames: np.ndarray, clip_model, head, device: str = "cpu") -> np.ndarray:
    """LAION aesthetic predictions for frames.

    Args:
        frames: uint8 RGB [K, H, W, 3].
        clip_model: a `CLIPVisionModelWithProjection`.
        head: from `build_laion_head`, with weights.
        device: where the models live.

    Returns:
        float64 [K], about 1-10 with the official weights.
    """
    import torch

    pixels = torch.from_numpy(clip_preprocess(frames, clip_model.config.image_size)).to(device)
    with torch.inference_mode():
        emb = clip_model(pixel_values=pixels).image_embeds.float()  # [K, 768]
        emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # as the official `normalized()`
        return head(emb).squeeze(-1).double().cpu().numpy()


@dataclass
class LaionAesthetic:
    """Aesthetic scorer with the LAION improved aesthetic predictor on CLIP ViT-L/14 (real backend).

    Attributes:
        n_frames: frames scored per clip (one batch); the value is their mean.
        head_path: `sac+logos+ava1-l14-linearMSE.pth`; None resolves "laion_aesthetic" from conf/local or env.
        clip_path: CLIP ViT-L/14 transformers folder; None resolves "clip_vit_l14".
        device: torch device, e.g. "cpu" or "cuda".
    """

    signal: ClassVar[str] = "aesthetic"
    backend: ClassVar[str] = "laion"
    weights: ClassVar[dict[str, str]] = {"laion_aesthetic": "head_path", "clip_vit_l14": "clip_path"}

    n_frames: int = 3
    head_path: str | None = None
    clip_path: str | None = None
    device: str = "cpu"
    _models: tuple | None = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._models is None:
            self._models = load_laion_models(self.head_path, self.clip_path, self.device)

    def score(self, clip: AnalysisClip) -> Score:
        idx = spread_indices(len(clip.frames), self.n_frames)
        if len(idx) == 0:
            return Score.failed(self.backend, "too_short")
        self.setup()
        values = laion_scores(clip.frames[idx], *self._models, device=self.device)
        return Score(float(values.mean()), self.backend, None, {"min": float(values.min())})


AESTHETIC_BACKENDS: dict[str, type] = {"image_stats": ImageStatsAesthetic, "laion": LaionAesthetic}
