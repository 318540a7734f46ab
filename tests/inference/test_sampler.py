"""Flow-matching schedule and Euler step: the convention, the shift, and equality with diffusers."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.inference.sampler import euler_step, flow_sigmas, sample_flow, shift_sigmas


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
def test_schedule_and_steps_equal_diffusers_scheduler(shift):
    """Sigmas and Euler loop equal FlowMatchEulerDiscreteScheduler(shift) bit for bit (same unshifted sigmas)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    steps = 7
    ours = flow_sigmas(steps, shift)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(sigmas=torch.linspace(1.0, 0.0, steps + 1)[:-1].numpy())
    assert torch.equal(ours, scheduler.sigmas)
    torch.testing.assert_close(scheduler.timesteps / 1000, ours[:-1], rtol=0, atol=1e-6)

    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 4, generator=gen)

    def velocity(x, sigma):  # any smooth field will do; the step arithmetic is what is compared
        return torch.tanh(torch.einsum("ij,bjthw->bithw", weight, x)) * (1 + sigma)

    noise = torch.randn(1, 4, 2, 3, 3, generator=gen)
    x = noise.clone()
    for t in scheduler.timesteps:
        sigma = float(scheduler.sigmas[scheduler.index_for_timestep(t)])
        x = scheduler.step(velocity(x, sigma), t, x).prev_sample
    assert torch.equal(sample_flow(velocity, noise, ours), x)


def test_euler_follows_the_straight_path_to_the_clean_sample():
    """With the exact velocity eps - x0, Euler from pure noise lands on x0 (x_s = (1-s) x0 + s eps)."""
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(1, 3, 2, 4, 4, generator=gen), torch.randn(1, 3, 2, 4, 4, generator=gen)
    out = sample_flow(lambda x, s: eps - x0, eps, flow_sigmas(5, shift=3.0))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-5)
    mid = euler_step(eps, eps - x0, 1.0, 0.25)
    torch.testing.assert_close(mid, 0.75 * x0 + 0.25 * eps, rtol=0, atol=1e-6)


def test_shift_formula_keeps_both_ends_and_front_loads_steps():
    """shift*s/(1+(shift-1)*s): 0 and 1 stay, every interior level rises, shift 1 is the identity."""
    sigmas = torch.linspace(0, 1, 11)
    shifted = shift_sigmas(sigmas, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:-1] > sigmas[1:-1]).all()
    torch.testing.assert_close(shift_sigmas(sigmas, 1.0), sigmas)
    torch.testing.assert_close(shifted[5], torch.tensor(1.5 / 2.0))
    with pytest.raises(ValueError, match="at least one"):
        flow_sigmas(0)


def test_an_x0_model_samples_like_the_velocity_model_it_equals():
    """A net returning x0 = x - sigma v gives, through the x0 conversion, the velocity net's samples."""
    from omnihuman_pipeline.inference.sampler import Guidance, GuidedDenoiser, SegmentConditions

    gen = torch.Generator().manual_seed(2)
    target = torch.randn(1, 3, 2, 4, 4, generator=gen)

    class Net(torch.nn.Module):
        def __init__(self, prediction: str):
            super().__init__()
            self.prediction = prediction

        def forward(self, noisy_latents, timestep, **_):
            v = noisy_latents - target  # any smooth field
            s = timestep.reshape(-1, 1, 1, 1, 1)
            return v if self.prediction == "velocity" else noisy_latents - s * v

    cond = SegmentConditions(torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool), torch.zeros(1, 3, 1, 4, 4))
    noise = torch.randn(1, 3, 2, 4, 4, generator=gen)
    out = {p: sample_flow(GuidedDenoiser(Net(p), cond, Guidance(scale=2.0), prediction=p), noise,
                          flow_sigmas(6, shift=3.0)) for p in ("velocity", "x0")}
    torch.testing.assert_close(out["x0"], out["velocity"], rtol=0, atol=1e-5)
