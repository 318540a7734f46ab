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
