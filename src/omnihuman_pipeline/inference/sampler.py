"""Flow-matching Euler sampling with classifier-free guidance on text and audio (paper §3.4).

Noise schedule. Training noises a clean latent x_0 as ``x_σ = (1 - σ) x_0 + σ ε`` and the model
predicts the velocity ``v = ε - x_0`` (rectified flow), so ``dx/dσ = v`` and one Euler step from σ to
σ_next is ``x ← x + (σ_next - σ) v``. Sampling walks σ from 1 (pure noise) to 0 over ``steps``
equal steps of the *unshifted* time, each mapped by the training shift
``σ' = shift σ / (1 + (shift - 1) σ)`` (``model.json: flow.shift``): a shift > 1 spends more steps
at high noise, where the coarse motion is decided, and must match the shift the weights were trained
with. The schedule and step equal diffusers' ``FlowMatchEulerDiscreteScheduler(shift=...)`` given
the same unshifted sigmas (tests/inference/test_sampler.py).

Guidance (paper §3.4: "we apply CFG specifically to audio and text, but not to the pose condition";
scale 6.5). The null prediction v(∅) turns text and audio off through the model's ``text_on`` /
``audio_on`` switches, the same null path training's condition dropout teaches; the reference image,
the motion frames and the pose stay on in every branch, because pose is a strong condition that
needs no guidance to be followed and guiding it would only exaggerate the motion it already fixes.

* ``joint`` (default): ``v = v(∅) + s (v(text, audio) - v(∅))`` — one scale for the weak
  conditions together, 2 branches per step; the paper's setting.
* ``separate``: ``v = v(∅) + s_t (v(text) - v(∅)) + s_a (v(text, audio) - v(text))`` — the audio
  term guides only what audio adds on top of text, so lip and gesture strength (s_a) can be raised
  without over-saturating the appearance text drives (s_t); 3 branches per step. With
  ``s_t = s_a = s`` it equals ``joint``.

Speaker selection (paper §4.4: "by adjusting the regions affected by CFG, OmniHuman can specify the
speaker"): a spatial mask M in latent space multiplies the audio term,
``v = v(∅) + s_t (v(text) - v(∅)) + M s_a (v(text, audio) - v(text))``, so outside the chosen
person the velocity is exactly the text-guided one and only the masked person is driven by the
audio. A mask needs the v(text) branch, so it runs 3 branches in either form.

Prediction target. A network trained with ``flow.prediction: x0`` (``model.json``) returns the clean
latents; each branch's output is turned into the velocity ``(x - x0_hat) / σ`` before guidance, so the
schedule, the Euler step and CFG are the same for both kinds of weights (CFG on x0 estimates and CFG
on velocities are the same combination, since the map is affine with one x and σ).

All branches of a step run as **one batched forward** (stacked on the batch dimension). The pose
guider's features depend on neither the noise level nor the branch, so they are computed once per
segment and reused by every step and branch (on CPU the guider's convolutions over full-resolution
skeleton maps were 60 % of a tiny model's forward, and they grow with the batch faster than linearly
once the maps leave the cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from omnihuman_pipeline.training.flow_matching import check_prediction, to_velocity

NULL, TEXT, FULL = "null", "text", "full"
CFG_FORMS = ("joint", "separate")
DEFAULT_CFG_SCALE = 6.5  # paper §3.4


# --------------------------------------------------------------------------------------------------
# Schedule and Euler step
# --------------------------------------------------------------------------------------------------
def shift_sigmas(sigmas: Tensor, shift: float) -> Tensor:
    """Training's time shift ``shift σ / (1 + (shift - 1) σ)`` (identity for shift 1; keeps 0 and 1)."""
    if shift <= 0:
        raise ValueError(f"flow shift must be > 0, got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def flow_sigmas(steps: int, shift: float = 1.0) -> Tensor:
    """Noise levels of a sampling run: ``steps + 1`` values from 1 down to 0, shifted.

    Args:
        steps: Euler steps (model evaluations per guidance branch).
        shift: the training shift (``model.json: flow.shift``).

    Returns:
        float32 [steps + 1]; ``sigmas[0] = 1``, ``sigmas[-1] = 0``.
    """
    if steps < 1:
        raise ValueError(f"need at least one sampling step, got {steps}")
    return shift_sigmas(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float32), shift)


def euler_step(x: Tensor, velocity: Tensor, sigma: float | Tensor, sigma_next: float | Tensor) -> Tensor:
    """One flow-matching Euler step ``x + (σ_next - σ) v`` in float32 (as diffusers' scheduler).

    Args:
        x: [B, C, T, H, W] latents at σ.
        velocity: [B, C, T, H, W] predicted ``ε - x_0``.
        sigma: current noise level.
        sigma_next: the next (smaller) noise level.

    Returns:
        Latents at σ_next, in ``x``'s dtype.
    """
    return (x.float() + (sigma_next - sigma) * velocity.float()).to(x.dtype)


# --------------------------------------------------------------------------------------------------
# Guidance
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance settings (module docstring).

    Attributes:
        form: ``joint`` (one scale on text and audio together) or ``separate`` (a text scale and an
            audio scale).
        scale: the ``joint`` scale s (paper: 6.5); 1 turns guidance off (one branch per step).
        text_scale: s_t of ``separate``.
        audio_scale: s_a of ``separate``.
    """

    form: str = "joint"
    scale: float = DEFAULT_CFG_SCALE
    text_scale: float = DEFAULT_CFG_SCALE
    audio_scale: float = DEFAULT_CFG_SCALE

    def __post_init__(self) -> None:
        if self.form not in CFG_FORMS:
            raise ValueError(f"unknown CFG form {self.form!r}; choose one of {CFG_FORMS}")

    @property
    def scales(self) -> tuple[float, float]:
        """(s_text, s_audio) of the velocity formula."""
        if self.form == "joint":
            return float(self.scale), float(self.scale)
        return float(self.text_scale), float(self.audio_scale)

    def branches(self, audio: bool, masked: bool = False) -> tuple[str, ...]:
        """Which predictions a step needs, in batch order.

        Args:
            audio: audio is an active condition.
            masked: a speaker mask confines the audio term (needs the text-only branch).

        Returns:
            A subset of (``null``, ``text``, ``full``); ``full`` is text + audio (= ``text`` without audio).
        """
        s_text, s_audio = self.scales
        if not audio:
            return (TEXT,) if s_text == 1 else (NULL, TEXT)
        if self.form == "joint" and not masked:
            return (FULL,) if s_text == 1 else (NULL, FULL)
        return (NULL, TEXT, FULL)


def combine_guidance(v: dict[str, Tensor], guidance: Guidance, mask: Tensor | None = None) -> Tensor:
    """The guided velocity from the branch predictions (module docstring).

    Args:
        v: branch name -> [B, C, T, H, W] velocity, the branches of ``guidance.branches(...)``.
        guidance: the scales.
        mask: [h, w] (or broadcastable to the velocity) in [0, 1]: where the audio term applies.

    Returns:
        [B, C, T, H, W].
    """
    s_text, s_audio = guidance.scales
    if len(v) == 1:
        return next(iter(v.values()))
    if FULL not in v:  # no audio: text guidance only
        return v[NULL] + s_text * (v[TEXT] - v[NULL])
    if TEXT not in v:  # joint form: s_text == s_audio
        return v[NULL] + s_text * (v[FULL] - v[NULL])
    audio_term = s_audio * (v[FULL] - v[TEXT])
    if mask is not None:
        audio_term = audio_term * mask.to(audio_term)
    return v[NULL] + s_text * (v[TEXT] - v[NULL]) + audio_term


@dataclass
class SegmentConditions:
    """The model inputs of one segment that stay fixed over the sampling steps (batch 1).

    Attributes:
        text_emb: [1, L, D_text] caption token states.
        text_mask: bool [1, L], False on padding.
        ref_latents: [1, C, 1, h, w] reference-image latent.
        motion_latents: [1, C, Tm, h, w] clean latents of the previous segment's last frames, or None.
        audio_feats: [1, F, L_a, C_a] 25 fps audio features of the segment, or None (audio inactive).
        pose_maps: [1, 3, F, 8h, 8w] skeleton maps in [-1, 1], or None (pose inactive).
    """

    text_emb: Tensor
    text_mask: Tensor
    ref_latents: Tensor
    motion_latents: Tensor | None = None
    audio_feats: Tensor | None = None
    pose_maps: Tensor | None = None


class GuidedDenoiser:
    """The guided velocity ``v(x, σ)`` of one segment: all branches in one batched forward.

    Args:
        model: an ``OmniHumanTransformer`` in eval mode.
        conditions: the segment's fixed inputs.
        guidance: CFG settings.
        mask: speaker mask [h, w] in [0, 1] (latent grid) confining the audio term, or None.
        batched: stack the branches on the batch dimension (False: one forward per branch, for tests
            and the benchmark).
        prediction: what the model outputs (``model.json: flow.prediction``): ``velocity`` or ``x0``.
    """

    def __init__(self, model: torch.nn.Module, conditions: SegmentConditions, guidance: Guidance,
                 mask: Tensor | None = None, batched: bool = True, prediction: str = "velocity") -> None:
        self.model, self.cond, self.guidance, self.batched = model, conditions, guidance, batched
        self.prediction = check_prediction(prediction)
        self.audio = conditions.audio_feats is not None
        if mask is not None and not self.audio:
            raise ValueError("a speaker mask confines the audio guidance, but audio is not a condition here")
        self.mask = mask
        self.branches = guidance.branches(self.audio, masked=mask is not None)
        self.forward_calls = 0
        self.pose_feats = None
        if conditions.pose_maps is not None and getattr(model, "pose_guider", None) is not None:
            with torch.no_grad():
                self.pose_feats = model.pose_guider(conditions.pose_maps)

    def _switches(self, names: tuple[str, ...], device: torch.device) -> dict[str, Tensor | None]:
        text_on = torch.tensor([n != NULL for n in names], device=device)
        audio_on = torch.tensor([n == FULL for n in names], device=device) if self.audio else None
        pose_on = torch.ones(len(names), dtype=torch.bool, device=device)  # pose is never guided
        return {"text_on": text_on, "audio_on": audio_on, "pose_on": pose_on}

    def _forward(self, x: Tensor, sigma: float, names: tuple[str, ...]) -> Tensor:
        n, c = len(names), self.cond

        def rep(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.expand(n, *t.shape[1:])

        self.forward_calls += 1
        out = self.model(
            noisy_latents=rep(x), timestep=torch.full((n,), float(sigma), device=x.device),
            text_emb=rep(c.text_emb), text_mask=rep(c.text_mask), ref_latents=rep(c.ref_latents),
            motion_latents=rep(c.motion_latents), audio_feats=rep(c.audio_feats),
            pose_maps=None if self.pose_feats is not None else rep(c.pose_maps),
            pose_feats=rep(self.pose_feats), **self._switches(names, x.device),
        )
        return to_velocity(out, rep(x), float(sigma), self.prediction)

    @torch.no_grad()
    def branch_velocities(self, x: Tensor, sigma: float) -> dict[str, Tensor]:
        """Each branch's prediction at (x [1, C, T, h, w], σ): name -> [1, C, T, h, w]."""
        if self.batched:
            out = self._forward(x, sigma, self.branches)
            return {name: out[i:i + 1] for i, name in enumerate(self.branches)}
        return {name: self._forward(x, sigma, (name,)) for name in self.branches}

    def __call__(self, x: Tensor, sigma: float) -> Tensor:
        """Guided velocity [1, C, T, h, w] at (x, σ)."""
        return combine_guidance(self.branch_velocities(x, sigma), self.guidance, self.mask)


def sample_flow(velocity: Callable[[Tensor, float], Tensor], noise: Tensor, sigmas: Tensor,
                on_step: Callable[[int], None] | None = None) -> Tensor:
    """Integrate from σ = sigmas[0] (noise) to sigmas[-1] (clean) with Euler steps.

    Args:
        velocity: ``v(x, σ)`` (e.g. a :class:`GuidedDenoiser`).
        noise: [B, C, T, h, w] x at sigmas[0].
        sigmas: float [steps + 1] decreasing noise levels (:func:`flow_sigmas`).
        on_step: called with the step index after each step (progress bars).

    Returns:
        The sampled latents [B, C, T, h, w].
    """
    x = noise
    levels = [float(s) for s in sigmas]
    for i, (sigma, sigma_next) in enumerate(zip(levels[:-1], levels[1:], strict=True)):
        x = euler_step(x, velocity(x, sigma), sigma, sigma_next)
        if on_step is not None:
            on_step(i)
    return x
