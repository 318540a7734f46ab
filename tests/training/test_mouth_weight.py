"""The mouth-weighted loss: the box from face keypoints, the weight map per latent frame, the weighted mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.training.config import FlowSettings
from omnihuman_pipeline.training.flow_matching import flow_loss
from omnihuman_pipeline.training.mouth_weight import box_cells, mouth_box, mouth_weight_map


def face(nose=(0.5, 0.5), eye_distance=0.2, confidence=0.9) -> np.ndarray:
    body = np.full((18, 3), np.nan, np.float32)
    body[0] = (*nose, confidence)
    body[14] = (nose[0] - eye_distance / 2, nose[1] - 0.1, confidence)
    body[15] = (nose[0] + eye_distance / 2, nose[1] - 0.1, confidence)
    return body


def test_box_sits_under_the_nose_and_scales_with_the_eyes():
    x0, y0, x1, y1 = mouth_box(face(eye_distance=0.2))
    assert (x0, x1) == pytest.approx((0.38, 0.62)) and (y0, y1) == pytest.approx((0.52, 0.70))
    assert mouth_box(face(confidence=0.1)) is None and mouth_box(np.full((18, 3), np.nan)) is None


def test_weight_map_marks_the_mouth_cells_of_each_latent_frame():
    """Latent frame 0 stands on pixel frame 0, frame 1 on pixel frames 1-4 (mean keypoints); missing faces stay 1."""
    body = np.stack([face((0.5, 0.3))] + [face((0.5, 0.5))] * 4 + [np.full((18, 3), np.nan)] * 4)
    weights = mouth_weight_map(body, 3, 8, 8, weight=5.0)
    assert weights.shape == (3, 8, 8) and set(weights.unique().tolist()) == {1.0, 5.0}
    assert torch.equal(weights[1] == 5, box_cells(mouth_box(face((0.5, 0.5))), 8, 8))
    assert (weights[0] == 5).nonzero()[:, 0].float().mean() < (weights[1] == 5).nonzero()[:, 0].float().mean()
    assert torch.all(weights[2] == 1)  # no face in its pixel frames
    assert torch.all(mouth_weight_map(None, 3, 8, 8, 5.0) == 1)


def test_a_tiny_box_still_weights_one_cell():
    assert box_cells((0.51, 0.51, 0.52, 0.52), 4, 4).sum() == 1


def test_weighted_loss_equals_the_uniform_one_with_unit_weights_and_follows_the_weights():
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 5, 5, generator=gen), torch.randn(2, 3, 4, 5, 5, generator=gen)
    torch.testing.assert_close(flow_loss(pred, target, weight=torch.ones(2, 4, 5, 5)), flow_loss(pred, target))
    weight = torch.ones(2, 4, 5, 5)
    weight[:, :, 0, 0] = 1e6  # all the weight on one cell
    err = (pred - target).pow(2).mean(dim=1)[:, :, 0, 0].mean(dim=1)
    torch.testing.assert_close(flow_loss(pred, target, weight=weight), err, rtol=1e-4, atol=1e-4)


def test_mouth_weight_below_one_is_refused():
    with pytest.raises(ValueError, match="mouth_weight must be >= 1"):
        FlowSettings(mouth_weight=0.5)
    with pytest.raises(ValueError, match="loss_space 'x_0'; choose one of"):
        FlowSettings(loss_space="x_0")


def test_stage2_batches_carry_mouth_weights_read_from_the_keypoints(two_clip_cache, monkeypatch):
    """With flow.mouth_weight set, every training sample carries [T, h, w] weights, keypoints read even off-pose."""
    from omnihuman_pipeline.features import synthetic
    from omnihuman_pipeline.training.conditions import Ratios
    from omnihuman_pipeline.training.config import DataSettings
    from omnihuman_pipeline.training.data import OmniDataModule

    index, store = two_clip_cache
    settings = DataSettings(window_latent_frames=4, batch_size=2, num_workers=0, val_fraction=0.5)
    module = OmniDataModule(index, store, conditions=("text", "audio"), ratios=Ratios(), t_only_fraction=1.0,
                            data=settings, flow={"shift": 1.0, "mouth_weight": 4.0}, with_audio=True,
                            with_pose=False, total_micro_batches=2)
    from omnihuman_pipeline.training import data

    seen = []

    def recording(body, *args, **kwargs):
        seen.append(None if body is None else body.shape)
        return mouth_weight_map(body, *args, **kwargs)

    monkeypatch.setattr(data, "mouth_weight_map", recording)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["loss_weight"].shape == (2, 4, 4, 4) and "pose" not in batch
    assert seen and all(shape == (13, 18, 3) for shape in seen)  # the window's 1 + 4 * 3 pixel frames
    assert np.isnan(synthetic.body_keypoints(1)[0, 14, 2])  # the synthetic skeleton has no eyes: uniform weights
    assert torch.all(batch["loss_weight"] == 1)


def test_a_stage_changes_the_shared_flow_settings_for_itself_only():
    """``stage2.flow`` overrides ``train.flow`` in that stage; a key FlowSettings does not know is refused."""
    from omnihuman_pipeline.training.config import StageSettings, TrainSettings

    train = TrainSettings.from_params({"flow": {"prediction": "x0", "shift": 3.0}})
    stage1 = StageSettings.from_params("stage1", {"conditions": ["text"], "max_steps": 1})
    stage2 = StageSettings.from_params("stage2", {"conditions": ["text", "audio"], "max_steps": 1,
                                                  "flow": {"mouth_weight": 10, "loss_space": "x0"}})
    assert stage1.effective_settings(train) is train
    flow = stage2.effective_settings(train).flow
    assert (flow.mouth_weight, flow.loss_space, flow.prediction, flow.shift) == (10, "x0", "x0", 3.0)
    with pytest.raises(KeyError, match="mouth_wieght"):
        StageSettings.from_params("stage2", {"max_steps": 1, "flow": {"mouth_wieght": 10}})
