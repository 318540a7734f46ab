"""`kedro run --pipeline=train --env=tiny` after curate and features: three stages that learn."""

from __future__ import annotations

import json
import shutil

import pytest

from omnihuman_pipeline.models import load_model_folder
from omnihuman_pipeline.pipelines.train import create_pipeline

from .conftest import make_project, run_kedro

STAGES = ("stage1", "stage2", "stage3")


def test_pipeline_declaration():
    """One node per stage namespace; stage k starts from stage k-1's model, stage 1 from the T2V slot."""
    nodes = {n.namespace: n for n in create_pipeline().nodes}
    assert set(nodes) == set(STAGES)
    assert "pretrained_t2v" in nodes["stage1"].inputs and "stage1.model" in nodes["stage2"].inputs
    assert "stage2.model" in nodes["stage3"].inputs and "params:stage3" in nodes["stage3"].inputs
    assert set(nodes["stage3"].outputs) == {"stage3.model", "stage3.report"}


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory, curated_project):
    """The curated tiny project, features cached, three stages trained."""
    project = make_project(tmp_path_factory.mktemp("train_project"))
    for layer in ("02_intermediate", "03_primary"):
        shutil.copytree(curated_project / "data" / layer, project / "data" / layer, dirs_exist_ok=True)
    run_kedro(project, "features")
    run_kedro(project, "train", timeout=900)
    return project


@pytest.mark.slow
def test_three_stages_write_their_folders_and_learn(trained_project):
    """Each stage leaves last.ckpt, the EMA model, report and hand-off; after stage 3 every task's validation loss
    is below the untrained model's on the same fixed samples."""
    reports = {}
    for index, stage in enumerate(STAGES, start=1):
        folder = trained_project / "data/06_models" / stage
        for name in ("last.ckpt", "model.safetensors", "model.json", "handoff.json", "report.json"):
            assert (folder / name).is_file(), (stage, name)
        reports[stage] = json.loads((folder / "report.json").read_text())
        _, card = load_model_folder(folder)
        assert card.stage == index and card.feature_backends["text"] == "minilm" and card.config.in_channels == 768
        assert (trained_project / "data/08_reporting/train" / stage / "plots/metrics/train/loss.tsv").is_file()
    untrained, final = reports["stage1"]["val_loss_start"], reports["stage3"]["val_loss"]
    for task in ("loss_text", "loss_audio", "loss_pose"):
        assert final[task] < untrained[task], (task, final[task], untrained[task])
    assert reports["stage2"]["samples_seen"]["audio"] > 0 and reports["stage3"]["samples_seen"]["pose"] > 0
    assert reports["stage1"]["samples_seen"]["audio"] == 0


@pytest.mark.slow
@pytest.mark.timeout(900)  # run alone, it pays for the module's curate + features + train fixture
def test_learning_settings_beat_the_old_settings_on_the_same_budget(trained_project, tmp_path):
    """Stage 1 on the tiny corpus's features, 40 steps each, same data, batch, shift and validation samples: the
    learning profile's model (small preset, x0 prediction) ends well below the old tiny velocity model's v-loss."""
    import pandas as pd

    from omnihuman_pipeline.datasets.model_folder import RunFolder
    from omnihuman_pipeline.features.shards import FeatureStore
    from omnihuman_pipeline.training.run import train_stage

    index = pd.read_parquet(trained_project / "data/04_feature/features.parquet")
    store = FeatureStore.at(str(trained_project / "data/04_feature/shards"))
    common = {"data": {"window_latent_frames": 4, "batch_size": 4, "num_workers": 0, "val_fraction": 0.2},
              "flow": {"shift": 3.0}, "ema": {"decay": 0.0},
              "trainer": {"accelerator": "cpu", "val_every_n_steps": 0, "checkpoint_every_n_steps": 1000,
                          "progress_bar": False}}
    settings = {"old": ({"preset": "tiny"}, {"prediction": "velocity"}, 2e-3),
                "learning": ({"preset": "small"}, {"prediction": "x0"}, 1e-3)}
    losses = {}
    for name, (model, flow, lr) in settings.items():
        train = {**common, "model": model, "flow": {**common["flow"], **flow},
                 "optimizer": {"lr": lr, "warmup_steps": 5, "global_batch_size": 4}}
        run = RunFolder(tmp_path / name, tmp_path / f"{name}_logs")
        run.path.mkdir(parents=True)
        report = train_stage(index, store, run, None, train, {"index": 1, "conditions": ["text"], "max_steps": 40},
                             name="stage1").report
        losses[name] = report["val_loss"]["loss_text"]
        assert report["val_loss_start"]["loss_text"] > 0.9  # an untrained net of either kind: about 1
    # measured: old 1.11 (a net that predicts no structure scores about 1), learning 0.75; the old settings stay
    # near 1.07 however long they train (150 steps on the small corpus)
    assert losses["old"] > 1.0 and losses["learning"] < 0.8 * losses["old"], losses
