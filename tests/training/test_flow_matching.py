"""Flow matching against closed forms: sigma distribution and shift, the noisy latents, target and loss."""

from __future__ import annotations

import math

import pytest
import torch

from omnihuman_pipeline.training.flow_matching import (
    add_noise,
    flow_loss,
    sample_sigmas,
    shift_sigmas,
    velocity_target,
)


def test_logit_normal_sigmas_have_the_configured_logit_mean_and_std():
    """logit(sigma) of 40,000 draws has mean and std within 0.02 of N(mean, std^2); all sigmas in (0, 1)."""
    sigmas = sample_sigmas(40_000, torch.Generator().manual_seed(0), mean=0.3, std=0.8)
    assert sigmas.min() > 0 and sigmas.max() < 1
    logits = torch.logit(sigmas.double())
    assert abs(logits.mean().item() - 0.3) < 0.02 and abs(logits.std().item() - 0.8) < 0.02


def test_shift_moves_the_median_as_the_closed_form_says():
    """With shift s the median of a logit-normal(0, 1) sigma moves from 0.5 to s/(1+s); s = 1 is the identity."""
    gen = torch.Generator().manual_seed(1)
    shifted = sample_sigmas(40_000, gen, shift=3.0)
    assert abs(shifted.median().item() - 3.0 / 4.0) < 0.01
    grid = torch.linspace(0, 1, 11)
    assert torch.allclose(shift_sigmas(grid, 1.0), grid)
    assert torch.all(torch.diff(shift_sigmas(grid, 5.0)) > 0) and shift_sigmas(grid, 5.0)[-1] == 1


def test_sigmas_are_seed_deterministic_and_uniform_scheme_is_uniform():
    """The same seed gives the same sigmas; the uniform scheme has mean 1/2 and variance 1/12."""
    a = sample_sigmas(8, torch.Generator().manual_seed(5))
    assert torch.equal(a, sample_sigmas(8, torch.Generator().manual_seed(5)))
    u = sample_sigmas(40_000, torch.Generator().manual_seed(2), scheme="uniform")
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.002
    with pytest.raises(ValueError, match="unknown sigma scheme"):
        sample_sigmas(2, torch.Generator(), scheme="cosine")


def test_noisy_latents_interpolate_and_the_target_is_their_derivative():
    """x_t is x0 at sigma 0 and the noise at sigma 1; (x_{s+h} - x_s) / h equals the velocity target."""
    gen = torch.Generator().manual_seed(3)
    x0, noise = torch.randn(2, 4, 3, 2, 2, generator=gen), torch.randn(2, 4, 3, 2, 2, generator=gen)
    assert torch.equal(add_noise(x0, noise, torch.zeros(2)), x0)
    assert torch.allclose(add_noise(x0, noise, torch.ones(2)), noise)
    s, h = torch.tensor([0.3, 0.7]), 1e-3
    derivative = (add_noise(x0, noise, s + h) - add_noise(x0, noise, s)) / h
    assert torch.allclose(derivative, velocity_target(x0, noise), atol=1e-3)


def test_a_perfect_prediction_has_zero_loss_and_masked_frames_carry_none():
    """Predicting the target gives 0; an error on masked-out frames (motion/reference) changes nothing."""
    gen = torch.Generator().manual_seed(4)
    target = torch.randn(2, 4, 5, 2, 2, generator=gen)
    assert torch.count_nonzero(flow_loss(target, target)) == 0
    pred = target.clone()
    pred[:, :, :2] += 10.0  # wrong only on the first two frames
    mask = torch.tensor([False, False, True, True, True])
    assert torch.count_nonzero(flow_loss(pred, target, mask)) == 0
    assert torch.allclose(flow_loss(pred, target), torch.full((2,), 100.0 * 2 / 5))
    with pytest.raises(ValueError, match="no frame"):
        flow_loss(pred, target, torch.zeros(5, dtype=torch.bool))


def test_loss_is_the_mean_squared_error_per_sample():
    """flow_loss equals a hand-written per-sample MSE."""
    gen = torch.Generator().manual_seed(6)
    pred, target = torch.randn(3, 2, 2, 2, 2, generator=gen), torch.randn(3, 2, 2, 2, 2, generator=gen)
    expected = [((pred[i] - target[i]) ** 2).sum().item() / pred[i].numel() for i in range(3)]
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(flow_loss(pred, target).tolist(), expected, strict=True))


def test_x0_output_becomes_the_velocity_of_its_noisy_input():
    """x0 -> (x_t - x0)/sigma is exactly eps - x0 for the true x0; velocity passes through; to_x0 inverts both."""
    from omnihuman_pipeline.training.flow_matching import to_velocity, to_x0

    gen = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(3, 4, 2, 3, 3, generator=gen), torch.randn(3, 4, 2, 3, 3, generator=gen)
    sigmas = torch.tensor([0.9, 0.4, 0.1])
    noisy = add_noise(x0, eps, sigmas)
    torch.testing.assert_close(to_velocity(x0, noisy, sigmas, "x0"), velocity_target(x0, eps), rtol=0, atol=1e-5)
    v = velocity_target(x0, eps)
    assert to_velocity(v, noisy, sigmas, "velocity") is v
    torch.testing.assert_close(to_x0(v, noisy, sigmas, "velocity"), x0, rtol=0, atol=1e-5)
    assert to_x0(x0, noisy, sigmas, "x0") is x0
    with pytest.raises(ValueError, match="choose one of"):
        to_velocity(v, noisy, sigmas, "epsilon")


def test_x0_conversion_clamps_small_sigmas():
    """Below min_sigma the x0 error is divided by min_sigma, not by sigma (JiT's clamp)."""
    from omnihuman_pipeline.training.flow_matching import to_velocity

    noisy, out = torch.ones(2, 1, 1, 1, 1), torch.zeros(2, 1, 1, 1, 1)
    v = to_velocity(out, noisy, torch.tensor([0.01, 0.5]), "x0", min_sigma=0.05)
    torch.testing.assert_close(v.flatten(), torch.tensor([20.0, 2.0]))
