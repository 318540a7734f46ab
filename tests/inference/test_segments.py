"""Long-video segments: lengths that add up, motion frames handed on, audio and pose cut per segment."""

from __future__ import annotations

import pytest
import torch

from omnihuman_pipeline.inference.run import sample_segments
from omnihuman_pipeline.inference.sampler import Guidance, flow_sigmas
from omnihuman_pipeline.inference.segments import SegmentPlan, motion_latents, plan_segments
from omnihuman_pipeline.models import motion_latent_frames


@pytest.mark.parametrize("longest", [25, 49, 97])
def test_plans_add_up_to_the_frame_count(longest):
    """For 5..400 frames every segment is 1+4k within bounds and the lengths sum to N (trim only when impossible)."""
    exact = 0
    for total in range(5, 401):
        plan = plan_segments(total, longest)
        assert all((f - 1) % 4 == 0 and 5 <= f <= longest for f in plan.frames)
        assert plan.generated - plan.trim == total and 0 <= plan.trim < 4
        assert len(plan.frames) <= -(-total // longest) + 3
        exact += plan.trim == 0
    assert exact == 396 - 6  # 6, 7, 8, 11, 12 and 16 frames cannot be split exactly


def test_three_seconds_in_one_second_segments_is_three_segments_of_25():
    """75 frames with 25-frame segments: 3 x 25, starts 0/25/50; odd cases round up the last segment and trim."""
    plan = plan_segments(75, 25)
    assert plan == SegmentPlan((25, 25, 25), 75) and plan.starts == (0, 25, 50) and plan.trim == 0
    assert plan_segments(50, 49).frames == (25, 25)
    assert plan_segments(1, 49).frames == (1,) and plan_segments(7, 49) == SegmentPlan((9,), 7)


def test_motion_latents_are_the_latents_of_the_last_five_frames():
    """A 25-frame segment (7 latent frames) hands on latent frames 5 and 6 (pixel frames 20..24)."""
    latents = torch.arange(7.0).view(1, 1, 7, 1, 1).expand(1, 2, 7, 2, 2)
    assert motion_latent_frames(25) == [5, 6]
    assert motion_latents(latents, 25)[0, 0, :, 0, 0].tolist() == [5.0, 6.0]


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
    assert [o.latents.shape[2] for o in out] == [7, 7, 7] and out[0].motion_in is None
    for k in range(2):
        assert torch.equal(out[k + 1].motion_in, out[k].latents[:, :, -2:])
    assert len(model.calls) == 3 * steps
    for k in range(3):
        frames = plan.slice(k)
        for call in model.calls[k * steps:(k + 1) * steps]:
            assert torch.equal(call["audio_feats"][0], audio[frames])
            with torch.no_grad():
                assert torch.equal(call["pose_feats"][0], model.pose_guider(pose[:, frames][None])[0])
            assert (call["motion_latents"] is None) == (k == 0)
