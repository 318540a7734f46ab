"""Long-video segments: lengths that add up, motion frames handed on, audio and pose cut per segment."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.inference.run import sample_segments
from omnihuman_pipeline.inference.sampler import Guidance, flow_sigmas
from omnihuman_pipeline.inference.segments import SegmentPlan, motion_latents, plan_segments
from omnihuman_pipeline.models import motion_latent_frames, num_latent_frames


@pytest.mark.parametrize("longest", [13, 25, 49, 97])
def test_plans_cover_the_frame_count_with_one_latent_sequence(longest):
    """For 1..400 frames: L = 1 + ceil((N-1)/4) latents in ceil(L / window) segments, none longer than the window,
    decoding to N frames plus a tail of fewer than 4."""
    window = num_latent_frames(longest)
    for total in range(1, 401):
        plan = plan_segments(total, longest)
        assert plan.n_latent == 1 + -(-(total - 1) // 4) and all(1 <= n <= window for n in plan.latents)
        assert len(plan.latents) == -(-plan.n_latent // window)
        assert plan.generated - plan.trim == total and 0 <= plan.trim < 4


def test_segments_are_driven_by_their_own_pixel_frames():
    """75 frames in 25-frame (7-latent) segments: latents 7+7+6 from 0/7/14, driven by frames 0-24, 28-52, 56-76."""
    plan = plan_segments(75, 25)
    assert plan == SegmentPlan((7, 7, 6), 75) and plan.starts == (0, 7, 14) and plan.trim == 2
    assert [plan.condition_frames(i) for i in range(3)] == [range(0, 25), range(28, 53), range(56, 77)]
    assert [plan.motion_frames(i) for i in range(3)] == [0, 2, 2]
    assert plan_segments(1, 49).latents == (1,) and plan_segments(7, 49) == SegmentPlan((3,), 7)


def test_motion_latents_are_the_last_latents_of_the_sequence():
    """The next segment continues from the last 2 latent frames so far (those holding the last 5 pixel frames)."""
    latents = torch.arange(7.0).view(1, 1, 7, 1, 1).expand(1, 2, 7, 2, 2)
    assert motion_latent_frames(25) == [5, 6]
    assert motion_latents(latents)[0, 0, :, 0, 0].tolist() == [5.0, 6.0]


class Recorder(torch.nn.Module):
    """Wraps the model and keeps the motion latents, audio and pose features each forward receives."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    @property
    def config(self):
        return self.model.config

    @property
    def pose_guider(self):
        return self.model.pose_guider

    def forward(self, **kwargs):
        self.calls.append({k: kwargs[k] for k in ("motion_latents", "audio_feats", "pose_feats")})
        return self.model(**kwargs)


def test_segments_continue_from_the_previous_last_latents_with_their_own_audio_and_pose(model_factory):
    """Segment k+1's motion latents equal segment k's last latents; each gets its frames' audio and pose."""
    model = Recorder(model_factory())
    cfg, plan, steps = model.config, plan_segments(75, 25), 2
    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(plan.generated, cfg.audio_layers, cfg.audio_dim, generator=gen)
    pose = torch.rand(3, plan.generated, 16, 16, generator=gen) * 2 - 1
    out = sample_segments(model, plan, ref_latents=torch.randn(1, cfg.in_channels, 1, 2, 2, generator=gen),
                          text_emb=torch.randn(1, 4, cfg.text_dim, generator=gen),
                          text_mask=torch.ones(1, 4, dtype=torch.bool), audio_feats=audio, pose_maps=pose,
                          guidance=Guidance(), sigmas=flow_sigmas(steps), seed=3)
    assert [o.latents.shape[2] for o in out] == [7, 7, 6] and out[0].motion_in is None
    for k in range(2):
        assert torch.equal(out[k + 1].motion_in, out[k].latents[:, :, -2:])
    assert len(model.calls) == 3 * steps
    for k in range(3):
        frames = slice(plan.condition_frames(k).start, plan.condition_frames(k).stop)
        for call in model.calls[k * steps:(k + 1) * steps]:
            assert torch.equal(call["audio_feats"][0], audio[frames])
            with torch.no_grad():
                assert torch.equal(call["pose_feats"][0], model.pose_guider(pose[:, frames][None])[0])
            assert (call["motion_latents"] is None) == (k == 0)
