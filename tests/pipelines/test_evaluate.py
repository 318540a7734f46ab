"""The evaluate pipeline: declaration, its error for a missing checkpoint, and `kedro run --pipeline=evaluate
--env=tiny` on a project with tiny model folders, held-out talking clips and a folder test set with bad files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from omnihuman_pipeline.datasets.local_folder import LocalFolder
from omnihuman_pipeline.evaluation.test_sets import EvaluationError, validation_clip_ids
from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.pipelines.evaluate import create_pipeline
from omnihuman_pipeline.pipelines.evaluate.nodes import evaluate_checkpoints
from tests.evaluation.conftest import (
    clips_table,
    write_talking_video,
    write_test_folder,
    write_trained_folder,
)

from .conftest import make_project, run_kedro

OUTPUTS = ["data/08_reporting/eval_metrics.json", "data/08_reporting/eval_summary.json",
           "data/08_reporting/eval_table.md", "data/08_reporting/eval_per_video.parquet",
           "data/08_reporting/eval_strips.png", "data/07_model_output/eval/generated.parquet"]
# five videos, v0 with two clips; A / P eligibility varies so the split's stratification has work to do
SPECS = [ClipSpec("v0", A=True, P=True), ClipSpec("v0", A=True, P=True), ClipSpec("v1", P=True),
         ClipSpec("v2", A=True), ClipSpec("v3"), ClipSpec("v4", A=True, P=True)]


def test_pipeline_declaration():
    """Four thin nodes: test sets -> evaluation -> reports and the strip plot, params reaching them whole."""
    nodes = {n.name: n for n in create_pipeline().nodes}
    assert set(nodes) == {"select_test_sets_node", "evaluate_checkpoints_node", "report_evaluation_node",
                          "plot_strips_node"}
    assert nodes["select_test_sets_node"].inputs == ["features", "feature_store", "clips", "params:train",
                                                     "params:evaluate_test_sets", "eval_test_media"]
    assert {"params:evaluate", "params:evaluate_methods", "params:generate", "eval_models", "eval_videos",
            "stage3.model"} <= set(nodes["evaluate_checkpoints_node"].inputs)  # the model orders it after training
    assert nodes["report_evaluation_node"].outputs == ["eval_metrics", "eval_summary", "eval_table", "eval_per_video",
                                                       "eval_generated"]
    assert nodes["plot_strips_node"].outputs == ["eval_strips"]


def test_missing_checkpoint_stops_with_the_train_command(tmp_path):
    """No stage3 folder: the evaluation node stops before generating anything and names the train pipeline."""
    with pytest.raises(EvaluationError, match="kedro run --pipeline=train"):
        evaluate_checkpoints([], LocalFolder(tmp_path), LocalFolder(tmp_path / "out"), ["stage3"], {}, {}, {}, {},
                             None)


@pytest.fixture(scope="module")
def evaluated_project(tmp_path_factory):
    """A tiny project: talking clips with a features index and shards, their clips table, stage2/stage3 folders with
    reports, a folder test set (two good videos, one without audio, one broken); `kedro run --pipeline=evaluate
    --env=tiny` once."""
    project = make_project(tmp_path_factory.mktemp("evaluate_project"))
    index, _ = make_cache(project / "data/04_feature", SPECS)
    index.to_parquet(project / "data/04_feature/features.parquet")
    clips = [(r.clip_id, r.video_id, r.eligible_A, r.eligible_P) for r in index.itertuples()]
    media = {}
    for i, (clip_id, video_id, *_) in enumerate(clips):
        rel = f"data/02_intermediate/clips/{video_id}/{clip_id}.mp4"
        write_talking_video(project / rel, seed=i, seconds=1.2)
        media[clip_id] = rel
    clips_table(clips, media).to_parquet(project / "data/03_primary/clips.parquet")
    for stage in (2, 3):
        write_trained_folder(project / f"data/06_models/stage{stage}", stage, seed=stage)
    write_test_folder(project / "data/01_raw/eval/mine", seconds=1.2)
    tiny = project / "conf/tiny/parameters_evaluate.yml"
    params = yaml.safe_load(tiny.read_text())
    params["evaluate_test_sets"] = {"mine": {"source": "folder", "folder": "eval/mine", "label": "Mine"}}
    tiny.write_text(yaml.safe_dump(params))
    run_kedro(project, "evaluate")
    return project


@pytest.mark.slow
def test_kedro_run_evaluate_writes_every_report(evaluated_project):
    """Every catalog output exists; generated videos cover the held-out clips (the training split) and the folder."""
    for rel in OUTPUTS:
        assert (evaluated_project / rel).is_file(), rel
    generated = pd.read_parquet(evaluated_project / "data/07_model_output/eval/generated.parquet")
    index = pd.read_parquet(evaluated_project / "data/04_feature/features.parquet")
    held_out = validation_clip_ids(index, {"data": {"val_fraction": 0.2, "val_min_videos": 1}})
    val = generated[generated["test_set"] == "validation"]
    assert sorted(set(val["video_id"])) == sorted(held_out) and set(val["status"]) == {"ok"}
    assert set(generated["method"]) == {"stage2", "stage3"}
    mine = generated[generated["test_set"] == "mine"].set_index(["method", "video_id"])
    assert mine.loc[("stage3", "broken"), "status"] == "failed" and mine.loc[("stage3", "good_a"), "status"] == "ok"
    assert mine.loc[("stage2", "silent_track"), "reason"].startswith("no_audio")
    for path in generated.loc[generated["status"] == "ok", "output"]:
        assert path.startswith("data/07_model_output/eval/videos/") and (evaluated_project / path).is_file()


@pytest.mark.slow
def test_kedro_run_evaluate_reports_metrics_table_and_summary(evaluated_project):
    """The metric rows carry backend, status, reason, n and interval; real metrics are unavailable here, the offline
    ones report under their own names; the table has a row per method plus Ref Img and a group per test set."""
    rows = json.loads((evaluated_project / "data/08_reporting/eval_metrics.json").read_text())
    by = {(r["test_set"], r["method"], r["name"]): r for r in rows}
    assert {r["test_set"] for r in rows} == {"validation", "mine", "validation_loss"}
    fid = by[("mine", "stage3", "fid")]
    assert fid["status"] == "unavailable" and "inception_fid" in fid["reason"] and fid["value"] is None
    brisque = by[("mine", "stage3", "brisque")]
    assert brisque["status"] == "ok" and brisque["n"] == 2 and brisque["n_videos"] == 4
    assert brisque["ci_low"] <= brisque["value"] <= brisque["ci_high"]
    assert by[("validation_loss", "stage3", "val_loss_pose")]["backend"] == "flow_matching_val"
    assert ("validation", "Ref Img", "brisque") in by and not any(name == "sync_c" and r["status"] == "ok"
                                                                  for (_, _, name), r in by.items())
    summary = json.loads((evaluated_project / "data/08_reporting/eval_summary.json").read_text())
    assert summary["mine"]["stage3"]["brisque"] == pytest.approx(brisque["value"])
    assert summary["validation_loss"]["stage2"] == {"val_loss_text": 1.01, "val_loss_audio": 1.03}
    table = (evaluated_project / "data/08_reporting/eval_table.md").read_text()
    rows_md = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert rows_md[0] == "Method" and rows_md[-3:] == ["Ref Img", "stage2", "stage3"]
    assert "| Validation |" in table and "Mine" in table and "**FID↓ (inception_fid)**" in table
    assert "unavailable¹" in table and "- ¹ unavailable" in table
    per_video = pd.read_parquet(evaluated_project / "data/08_reporting/eval_per_video.parquet")
    broken = per_video[(per_video["video_id"] == "broken") & (per_video["method"] == "stage3")]
    assert len(broken) and set(broken["status"]) == {"failed"}
    assert broken["reason"].str.startswith("decode_failed").all()
