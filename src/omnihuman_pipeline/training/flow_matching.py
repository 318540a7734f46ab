"""Rectified flow / flow matching (paper §3.1 builds on an MMDiT T2V model trained this way).

Conventions (SD3, Wan): sigma in (0, 1) is the noise level and the model's ``timestep`` input;
``x_t = (1 - sigma) * x_0 + sigma * eps`` and the model predicts the velocity ``eps - x_0``, so
sampling integrates from sigma = 1 (noise) to 0 (data). Training sigmas come from a logit-normal
distribution, optionally shifted towards noise for large latents (SD3's resolution shift, Wan's
``shift``): ``sigma' = s * sigma / (1 + (s - 1) * sigma)``.

Prediction target (``train.flow.prediction``, recorded in ``model.json``). ``velocity``: the network
outputs ``eps - x_0`` (SD3, Wan and every pretrained text-to-video backbone). ``x0``: the network
outputs the clean ``x_0`` and the loss stays on the velocity, ``v = (x_t - x0_hat) / max(sigma, s_min)``
(JiT, Li & He 2025, arXiv 2511.13720): when a token holds more values than the network is wide (the
offline pixel codec's 3,072 values per token against a width of a few hundred), the noise cannot be
predicted but the clean image, which lies on a low-dimensional manifold, can. The clamp ``s_min``
bounds the weight ``1 / sigma^2`` that the velocity loss puts on an x0 error near sigma = 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGMA_SCHEMES = ("logit_normal", "uniform")
PREDICTIONS = ("velocity", "x0")


def shift_sigmas(sigmas: Tensor, shift: float) -> Tensor:
    """Resolution shift ``s * sigma / (1 + (s - 1) * sigma)``; identity for ``shift == 1``.

    Args:
        sigmas: noise levels in [0, 1].
        shift: s > 0; s > 1 moves mass towards noise.

    Returns:
        Shifted noise levels, same shape, still in [0, 1] and monotone in ``sigmas``.
    """
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def sample_sigmas(n: int, generator: torch.Generator, *, scheme: str = "logit_normal", mean: float = 0.0,
                  std: float = 1.0, shift: float = 1.0) -> Tensor:
    """Training noise levels.

    Args:
        n: how many.
        generator: the seeded source of randomness (CPU).
        scheme: ``logit_normal`` (sigmoid of N(mean, std^2), SD3's default) or ``uniform``.
        mean: location of the logit-normal.
        std: scale of the logit-normal.
        shift: resolution shift applied after sampling (see :func:`shift_sigmas`).

    Returns:
        [n] float32 sigmas in (0, 1).
    """
    if scheme == "logit_normal":
        u = torch.sigmoid(mean + std * torch.randn(n, generator=generator))
    elif scheme == "uniform":
        u = torch.rand(n, generator=generator)
    else:
        raise ValueError(f"unknown sigma scheme {scheme!r}; choose one of {SIGMA_SCHEMES}")
    return shift_sigmas(u, shift)


def add_noise(x0: Tensor, noise: Tensor, sigmas: Tensor) -> Tensor:
    """``x_t = (1 - sigma) x_0 + sigma eps`` with one sigma per sample.

    Args:
        x0: [B, ...] clean latents.
        noise: [B, ...] standard normal noise.
        sigmas: [B] noise levels.

    Returns:
        [B, ...] noisy latents.
    """
    s = sigmas.to(x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))
    return (1 - s) * x0 + s * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The flow-matching regression target ``eps - x_0`` (d x_t / d sigma)."""
    return noise - x0


def flow_loss(pred: Tensor, target: Tensor, frame_mask: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
    """Per-sample mean squared error over the frames that carry a loss.

    Args:
        pred: [B, C, T, H, W] predicted velocity.
        target: [B, C, T, H, W] target velocity.
        frame_mask: bool [T] or [B, T]; False frames (reference, motion) are excluded. None: all frames.
        weight: [B, T, H, W] weights of the latent cells (a weighted mean within each frame), or None.

    Returns:
        [B] float32 losses.
    """
    err = (pred.float() - target.float()).pow(2).mean(dim=1)  # [B, T, H, W]
    if weight is None:
        err = err.mean(dim=(2, 3))  # [B, T]
    else:
        w = weight.to(err.device, err.dtype)
        err = (err * w).sum(dim=(2, 3)) / w.sum(dim=(2, 3))
    if frame_mask is None:
        return err.mean(dim=1)
    mask = frame_mask.to(err.device).expand_as(err).float()
    if (mask.sum(dim=1) == 0).any():
        raise ValueError("a sample has no frame that carries a loss")
    return (err * mask).sum(dim=1) / mask.sum(dim=1)


def check_prediction(prediction: str) -> str:
    """``prediction`` when it is a known target, else one error naming the choices."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown flow prediction {prediction!r}; choose one of {PREDICTIONS}")
    return prediction


def to_velocity(output: Tensor, noisy: Tensor, sigmas: Tensor | float, prediction: str,
                min_sigma: float = 0.0) -> Tensor:
    """The velocity ``eps - x_0`` that a network output stands for.

    Args:
        output: [B, ...] what the network returned.
        noisy: [B, ...] its input x_t.
        sigmas: [B] (or one) noise level of x_t.
        prediction: ``velocity`` (returned as is) or ``x0`` (``(x_t - x0_hat) / max(sigma, min_sigma)``).
        min_sigma: lower clamp of sigma in the x0 conversion (training: ``flow.min_sigma``).

    Returns:
        [B, ...] velocity, float32 for ``x0``.
    """
    if check_prediction(prediction) == "velocity":
        return output
    return (noisy.float() - output.float()) / _per_sample(sigmas, output).clamp_min(max(min_sigma, 1e-6))


def to_x0(output: Tensor, noisy: Tensor, sigmas: Tensor | float, prediction: str) -> Tensor:
    """The clean-latent estimate ``x0_hat`` that a network output stands for (``x_t - sigma v`` for a velocity)."""
    if check_prediction(prediction) == "x0":
        return output
    return noisy.float() - _per_sample(sigmas, output) * output.float()


def _per_sample(sigmas: Tensor | float, like: Tensor) -> Tensor:
    """Float32 sigmas shaped to broadcast over ``like`` [B, ...] (one per sample, or one for all)."""
    s = torch.as_tensor(sigmas, dtype=torch.float32, device=like.device)
    return s.reshape(-1, *([1] * (like.ndim - 1))) if s.ndim else s
