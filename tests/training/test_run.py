"""train_stage end to end in-process: three stages with hand-offs, reports, resume, restart, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from omnihuman_pipeline.datasets.model_folder import ModelFolderDataset, RunFolder
from omnihuman_pipeline.features.synthetic import make_cache
from omnihuman_pipeline.models import load_model_folder
from omnihuman_pipeline.training.run import TrainingSetupError, train_stage
from tests.training.project import SPECS

TRAIN = {"model": {"preset": "tiny"}, "data": {"window_latent_frames": 4, "batch_size": 2, "num_workers": 0,
                                               "val_fraction": 0.3},
         "optimizer": {"lr": 2e-3, "warmup_steps": 2, "global_batch_size": 2}, "flow": {"shift": 1.0},
         "ema": {"decay": 0.9}, "trainer": {"accelerator": "cpu", "val_every_n_steps": 0,
                                            "checkpoint_every_n_steps": 3, "progress_bar": False}}
STAGES = {"stage1": {"index": 1, "conditions": ["text"], "max_steps": 6},
          "stage2": {"index": 2, "conditions": ["text", "audio"], "init": "previous", "max_steps": 6},
          "stage3": {"index": 3, "conditions": ["text", "audio", "pose"], "init": "previous", "max_steps": 12}}


def _stage(tmp_path, cache, name, init=None, train=TRAIN, stage=None):
    run = RunFolder(tmp_path / "models" / name, tmp_path / "logs" / name)
    run.path.mkdir(parents=True, exist_ok=True)
    outcome = train_stage(*cache, run, init, train, stage or STAGES[name], name=name, features={"video": {}})
    if outcome.model is not None:
        ModelFolderDataset(filepath=str(run.path)).save(outcome.model)
    return outcome, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The three stages trained once on the 7-clip synthetic cache."""
    tmp = tmp_path_factory.mktemp("run")
    cache = make_cache(tmp / "features", SPECS, clips_per_shard=1, marked=False)
    out, init = {}, None
    for name in STAGES:
        outcome, run = _stage(tmp, cache, name, init)
        out[name] = (outcome, run)
        init = ModelFolderDataset(filepath=str(run.path)).load()
    return tmp, cache, out


def test_stages_hand_off_their_weights_and_report_what_is_new(trained):
    """Stage 2 loads all of stage 1 and adds the audio branch; stage 3 widens the patch embedding for pose."""
    _, _, out = trained
    h1, h2, h3 = (json.loads((out[s][1].path / "handoff.json").read_text()) for s in STAGES)
    assert h1["kind"] == "fresh initialisation" and not h1["loaded"]
    assert not h2["skipped"] and h2["newly_initialized"] and all(
        k.startswith("audio_adapter") or ".audio_attn." in k for k in h2["newly_initialized"])
    assert h3["expanded"] == ["patch_embed.proj.weight"]
    assert all(k.startswith("pose_guider") for k in h3["newly_initialized"])


def test_the_stage_that_adds_audio_standardises_it_and_later_stages_keep_the_statistics(trained):
    """Stage 2 sets the audio adapter's feature statistics from the training clips; stage 3 inherits them."""
    _, cache, out = trained
    report2, report3 = out["stage2"][0].report, out["stage3"][0].report
    assert report2["audio_standardisation"]["clips"] >= 1 and report2["audio_standardisation"]["frames"] > 1
    assert report3["audio_standardisation"] is None  # loaded with the weights, not recomputed
    w2, w3 = (load_file(str(out[s][1].path / "model.safetensors")) for s in ("stage2", "stage3"))
    assert torch.equal(w2["audio_adapter.feature_mean"], w3["audio_adapter.feature_mean"])
    assert torch.equal(w2["audio_adapter.feature_std"], w3["audio_adapter.feature_std"])
    # the statistics are the training clips' own: the standardised frames have mean ~0 and std ~1
    index, store = cache
    from omnihuman_pipeline.features.loader import FeatureDataset
    ds = FeatureDataset(index, store, render_pose=False)
    frames = torch.cat([ds[i]["audio"].flatten(1).float() for i in range(len(ds)) if ds[i]["audio"] is not None])
    z = (frames - w2["audio_adapter.feature_mean"]) / w2["audio_adapter.feature_std"]
    assert z.mean().abs() < 0.5 and 0.3 < z.std() < 2.0
    assert not torch.equal(w2["audio_adapter.feature_std"], torch.ones_like(w2["audio_adapter.feature_std"]))


def test_model_folders_load_and_cards_name_stage_conditions_and_features(trained):
    """Each folder loads into an OmniHumanTransformer; its card has the stage, conditions, backends and flow shift."""
    _, _, out = trained
    for index, name in enumerate(STAGES, start=1):
        model, card = load_model_folder(out[name][1].path)
        assert card.stage == index and card.flow["shift"] == 1.0 and card.feature_backends["audio"] == "whisper"
        assert card.config.with_audio == (index >= 2) and card.config.with_pose == (index == 3)
        assert card.conditions == ("text", "image", "audio", "pose")[: index + 1]
        modes = {f.name: f.stat().st_mode & 0o777 for f in out[name][1].path.glob("model.*")}
        assert modes["model.safetensors"] == modes["model.json"], modes  # same permissions as its siblings


def test_reports_count_tasks_and_score_every_task_on_the_same_samples(trained):
    """Reports: steps, samples per task only of the stage's conditions, val losses per task before and after."""
    _, _, out = trained
    r1, r2, r3 = (out[s][0].report for s in STAGES)
    assert r1["steps"] == 6 and sum(r1["samples_seen"].values()) == 12
    assert r1["samples_seen"]["audio"] == 0 and r1["samples_seen"]["pose"] == 0 and r3["samples_seen"]["pose"] > 0
    assert r2["val_loss_start"] == r1["val_loss"]  # same fixed validation samples, the hand-off weights
    for report in (r1, r2, r3):
        for task in ("loss_text", "loss_audio", "loss_pose"):
            assert 0 < report["val_loss_start"][task] < 10 and 0 < report["val_loss"][task] < 10
    assert r1["weights_in_sync"] and r1["world_size"] == 1


def test_rerunning_a_finished_stage_resumes_and_only_re_exports(trained):
    """A second run with the same settings resumes last.ckpt at its final step: no step, same exported weights."""
    tmp, cache, out = trained
    before = load_file(str(out["stage1"][1].path / "model.safetensors"))
    outcome, run = _stage(tmp, cache, "stage1")
    assert outcome.report["resumed"] and outcome.report["steps"] == 6
    after = load_file(str(run.path / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_changed_settings_start_the_stage_over(tmp_path):
    """Another ratio changes the fingerprint: the old last.ckpt is cleared and training starts at step 0."""
    cache = make_cache(tmp_path / "features", SPECS, clips_per_shard=1, marked=False)
    first, run = _stage(tmp_path, cache, "stage1", stage={**STAGES["stage1"], "max_steps": 3})
    changed = {**TRAIN, "ratios": {"text": 0.5}}
    second, _ = _stage(tmp_path, cache, "stage1", train=changed, stage={**STAGES["stage1"], "max_steps": 3})
    assert not second.report["resumed"] and second.report["fingerprint"] != first.report["fingerprint"]


def test_weights_that_do_not_fit_and_launches_that_cannot_work_are_clear_errors(trained):
    """Other feature channels than the previous stage's, and DDP devices inside kedro run, fail before training."""
    tmp, cache, out = trained
    init = ModelFolderDataset(filepath=str(out["stage1"][1].path)).load()
    other = make_cache(tmp / "other", SPECS, channels=8, clips_per_shard=1)
    with pytest.raises(TrainingSetupError, match=r"in_channels: 4 in .* vs 8 from the features"):
        _stage(tmp, other, "stage2", init)
    many = {**TRAIN, "trainer": {**TRAIN["trainer"], "devices": 2, "strategy": "ddp"}}
    with pytest.raises(TrainingSetupError, match="torchrun"):
        _stage(tmp, cache, "stage2", init, train=many)
    with pytest.raises(TrainingSetupError, match="mmdit_t2v"):
        _stage(tmp, cache, "stage1", None, stage={**STAGES["stage1"], "init": "t2v"})


def test_x0_prediction_is_recorded_handed_on_and_read_by_generation(tmp_path):
    """flow.prediction x0 lands in model.json, the sampler reads it, and a velocity stage 2 refuses the x0 stage 1."""
    from omnihuman_pipeline.inference.run import Checkpoint

    cache = make_cache(tmp_path / "features", SPECS, clips_per_shard=1, marked=False)
    x0 = {**TRAIN, "flow": {"shift": 1.0, "prediction": "x0", "min_sigma": 0.05}}
    first, run = _stage(tmp_path, cache, "stage1", train=x0, stage={**STAGES["stage1"], "max_steps": 2})
    assert all(v == v for v in first.report["val_loss"].values())  # finite v-space losses
    _, card = load_model_folder(run.path)
    assert card.flow["prediction"] == "x0" and card.flow["min_sigma"] == 0.05
    assert Checkpoint(str(run.path), None, card, None).prediction == "x0"
    legacy = type(card)(card.config, card.stage, card.conditions, flow={"shift": 1.0})
    assert Checkpoint("old", None, legacy, None).prediction == "velocity"
    init = ModelFolderDataset(filepath=str(run.path)).load()
    with pytest.raises(TrainingSetupError, match="predicts 'x0' but train.flow.prediction is 'velocity'"):
        _stage(tmp_path, cache, "stage2", init)
    with pytest.raises(ValueError, match="unknown flow prediction 'eps'"):
        _stage(tmp_path, cache, "stage1", train={**TRAIN, "flow": {"prediction": "eps"}})


def test_a_half_written_dvclive_summary_is_repaired_before_resuming(tmp_path):
    """A kill inside DVCLive's summary write leaves truncated JSON and a partial TSV row: both are mended."""
    from omnihuman_pipeline.training.run import repair_live_dir

    (tmp_path / "plots/metrics/train").mkdir(parents=True)
    (tmp_path / "metrics.json").write_text('{"step": 3, "train": {"lo')
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "plots/metrics/train/loss.tsv").write_bytes(b"step\tloss\n0\t1.5\n1\t1.4\n2\t1.")
    assert repair_live_dir(tmp_path) == ["metrics.json", "plots/metrics/train/loss.tsv"]
    assert not (tmp_path / "metrics.json").exists() and (tmp_path / "params.yaml").exists()
    assert (tmp_path / "plots/metrics/train/loss.tsv").read_bytes() == b"step\tloss\n0\t1.5\n1\t1.4\n"
