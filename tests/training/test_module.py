"""The LightningModule: a CPU fast_dev_run per stage, it overfits one clip, EMA export, condition switches."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.training.ema import EMA, ema_decay
from omnihuman_pipeline.training.module import model_inputs
from tests.training.conftest import STAGE_CONDITIONS, data_module, lit_module, tiny_net


def _trainer(**kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, use_distributed_sampler=False, **kwargs)


@pytest.mark.parametrize("stage", sorted(STAGE_CONDITIONS))
def test_stage_fast_dev_run(stage, two_clip_cache):
    """One train and one validation step of the tiny MMDiT on CPU, for each stage's conditions."""
    conditions = STAGE_CONDITIONS[stage]
    module = lit_module(tiny_net(conditions))
    trainer = _trainer(fast_dev_run=True)
    trainer.fit(module, datamodule=data_module(two_clip_cache, conditions))
    assert trainer.global_step == 1 and torch.isfinite(trainer.callback_metrics["train/loss"])
    assert "val/loss" in trainer.callback_metrics


def test_the_tiny_model_overfits_one_clip(tmp_path):
    """On one clip (no motion, text always on) 400 steps take the loss below 10 % of its initial value."""
    cache = make_cache(tmp_path, [ClipSpec("v0", n_frames=13)], marked=False)
    dm = data_module(cache, ("text",), steps=400, batch_size=8, val_fraction=0.0, val_min_videos=0,
                     motion_probability=0.0)
    module = lit_module(tiny_net(("text",)), lr=3e-3)
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    L.seed_everything(0, verbose=False)
    _trainer(max_steps=400, limit_val_batches=0, callbacks=[Record()]).fit(module, datamodule=dm)
    first, last = sum(losses[:10]) / 10, sum(losses[-20:]) / 20
    assert last < 0.1 * first, (first, last)


def test_exported_weights_are_the_ema_of_the_trained_ones(two_clip_cache):
    """After fit the module holds decay-weighted averages of the per-step weights (checked by hand)."""
    module = lit_module(tiny_net(("text",)), lr=1e-2)
    seen: list[dict[str, torch.Tensor]] = []

    class Snapshot(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})

    _trainer(max_steps=4, limit_val_batches=0, callbacks=[Snapshot(), EMA(0.5, warmup=False)]).fit(
        module, datamodule=data_module(two_clip_cache, ("text",), steps=4))
    name = "blocks.0.attn.to_q.weight" if "blocks.0.attn.to_q.weight" in seen[0] else next(iter(seen[0]))
    expected = seen[0][name]
    for snap in seen[1:]:
        expected = 0.5 * expected + 0.5 * snap[name]
    assert torch.allclose(module.net.state_dict()[name], expected, atol=1e-6)
    assert not torch.allclose(module.net.state_dict()[name], seen[-1][name])


def test_ema_decay_warms_up_to_the_configured_decay():
    """(1 + n) / (10 + n) until it reaches the decay; a fixed decay without warm-up."""
    assert ema_decay(0.999, 0, True) == pytest.approx(0.1)
    assert ema_decay(0.999, 90, True) == pytest.approx(0.91)
    assert ema_decay(0.999, 100_000, True) == 0.999 and ema_decay(0.999, 0, False) == 0.999


def test_a_net_without_a_branch_ignores_that_condition(two_clip_cache):
    """A stage-1 net gets no audio/pose inputs; a stage-3 net gets them with their switches."""
    dm = data_module(two_clip_cache, STAGE_CONDITIONS["stage3"])
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    noisy = batch["latents"]
    stage1 = model_inputs(tiny_net(("text",)), batch, noisy)
    assert "audio_feats" not in stage1 and "pose_maps" not in stage1
    stage3 = model_inputs(tiny_net(STAGE_CONDITIONS["stage3"]), batch, noisy)
    assert stage3["pose_maps"].min() >= -1 and stage3["pose_maps"].max() <= 1
    assert stage3["audio_on"].dtype == torch.bool and stage3["pose_on"].shape == (2,)
