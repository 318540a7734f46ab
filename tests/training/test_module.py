"""The LightningModule: a CPU fast_dev_run per stage, it overfits one clip, EMA export, condition switches."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import Logger
from torch.optim.swa_utils import AveragedModel

from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.training.conditions import TASKS
from omnihuman_pipeline.training.ema import EMA, ema_decay, ema_multi_avg_fn
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


def test_ema_update_equals_torch_averaged_model():
    """The cached-group update gives AveragedModel.update_parameters' weights bit for bit, int buffers included."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    ema = EMA(0.9, warmup=True)
    ema._average_model = AveragedModel(model, use_buffers=True)
    reference = AveragedModel(model, use_buffers=True, multi_avg_fn=ema_multi_avg_fn(0.9, warmup=True))
    for _ in range(6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(5, 4))  # moves the running stats and num_batches_tracked
        ema.update(model)
        reference.update_parameters(model)
    ours, theirs = ema._average_model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert int(ours["n_averaged"]) == 6 and int(ours["module.1.num_batches_tracked"]) == 6


class _Recorder(Logger):
    name, version = "recorder", 0

    def __init__(self) -> None:
        super().__init__()
        self.logged: dict[int, dict[str, float]] = {}

    def log_metrics(self, metrics, step=None):
        self.logged.setdefault(step, {}).update(metrics)

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def test_task_losses_are_logged_as_means_over_the_logging_interval(two_clip_cache):
    """train/loss every logged step; train/loss_<task> = mean of that task's sample losses since the last log."""
    conditions = STAGE_CONDITIONS["stage3"]
    module = lit_module(tiny_net(conditions))
    seen: list[tuple[list[str], torch.Tensor]] = []
    step = module.model_step

    def recording_step(batch, **kwargs):
        losses = step(batch, **kwargs)
        seen.append((list(batch["task"]), losses.detach().clone()))
        return losses

    module.model_step = recording_step
    recorder = _Recorder()
    trainer = L.Trainer(accelerator="cpu", logger=recorder, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False, max_steps=6,
                        log_every_n_steps=3, limit_val_batches=0)
    trainer.fit(module, datamodule=data_module(two_clip_cache, conditions, steps=6))
    assert sorted(recorder.logged) == [2, 5]
    for logged_step, interval in ((2, seen[0:3]), (5, seen[3:6])):
        metrics = recorder.logged[logged_step]
        assert metrics["train/loss"] == pytest.approx(float(interval[-1][1].mean()), rel=1e-5)
        for task in TASKS:
            values = [float(v) for tasks, losses in interval for t, v in zip(tasks, losses, strict=True) if t == task]
            if values:
                assert metrics[f"train/loss_{task}"] == pytest.approx(sum(values) / len(values), rel=1e-5)
            else:
                assert f"train/loss_{task}" not in metrics
    assert sum(module.samples_seen().values()) == 12


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


def test_a_non_finite_loss_stops_training_naming_the_step_and_the_clips(two_clip_cache):
    """A NaN in one sample's latents stops the fit at that step with the batch's clips named, before any update."""
    from omnihuman_pipeline.training.module import NonFiniteLossError

    conditions = STAGE_CONDITIONS["stage1"]
    module = lit_module(tiny_net(conditions))
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    dm = data_module(two_clip_cache, conditions)

    class Poison(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            batch["latents"][0].fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match=r"at step 0 .*clips of the batch: \['.+'\], non-finite: \['.+'\]"):
        _trainer(max_steps=2, limit_val_batches=0, callbacks=[Poison()]).fit(module, datamodule=dm)
    assert all(torch.equal(before[k], v) for k, v in module.net.state_dict().items())


def test_x0_loss_space_is_the_clean_latent_error_and_validation_stays_in_velocity_space(two_clip_cache):
    """``loss_space: x0`` trains on |x0_hat - x0|^2 (sigma^2 x the velocity loss); validation is unchanged."""
    from functools import partial

    from omnihuman_pipeline.training.data import expand_batch
    from omnihuman_pipeline.training.flow_matching import add_noise, to_x0
    from omnihuman_pipeline.training.module import OmniHumanModule

    conditions = STAGE_CONDITIONS["stage1"]
    dm = data_module(two_clip_cache, conditions)
    dm.setup("fit")
    batch = expand_batch(next(iter(dm.train_dataloader())))
    batch["sigma"] = torch.tensor([0.9, 0.02])  # one sample below the clamp
    net = tiny_net(conditions)
    make = partial(OmniHumanModule, net, partial(torch.optim.AdamW, lr=1e-3), prediction="x0", min_sigma=0.05)
    velocity, x0_space = make(), make(loss_space="x0")
    with torch.no_grad():
        v_train, x_train = velocity.model_step(batch, weighted=True), x0_space.model_step(batch, weighted=True)
        x_val = x0_space.model_step(batch, weighted=False)
        noisy = add_noise(batch["latents"], batch["noise"], batch["sigma"])
        x0_hat = to_x0(net(**model_inputs(net, batch, noisy)), noisy, batch["sigma"], "x0")
    clean_error = (x0_hat - batch["latents"]).pow(2).mean(dim=(1, 2, 3, 4))
    torch.testing.assert_close(x_train[0], clean_error[0], rtol=1e-4, atol=1e-6)  # sigma above the clamp: exact
    torch.testing.assert_close(x_train, v_train * batch["sigma"].clamp_min(0.05) ** 2)
    torch.testing.assert_close(x_val, v_train)
