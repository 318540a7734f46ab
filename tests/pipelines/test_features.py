"""`kedro run --pipeline=features` on the curated tiny corpus: index, shards, loader, resume."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from omnihuman_pipeline.features.loader import FeatureDataset
from omnihuman_pipeline.pipelines.features import create_pipeline

from .conftest import make_project, run_kedro

SMALL = "features:\n  frames: {max_frames: 17}\n  video: {short_side: 64}\n  text: {max_length: 16}\n  store: {clips_per_shard: 3}\n"


@pytest.fixture(scope="module")
def features_project(tmp_path_factory, curated_project):
    """A copy of the curated project (clips and manifest) with small feature sizes."""
    project = make_project(tmp_path_factory.mktemp("features_project"))
    for layer in ("02_intermediate", "03_primary"):
        shutil.copytree(curated_project / "data" / layer, project / "data" / layer, dirs_exist_ok=True)
    (project / "conf/tiny/parameters_features.yml").write_text(SMALL)
    return project


def test_pipeline_declaration():
    """One thin node reading clips, the store and params:features."""
    [node] = create_pipeline().nodes
    assert node.name == "cache_features_node" and set(node.inputs) == {"clips", "feature_store", "params:features"}
    assert set(node.outputs) == {"features", "features_summary"}


@pytest.mark.slow
def test_features_run_and_resume(features_project):
    """Every clip gets a row, T-eligible ones are cached and load (P ones with pose); a rerun computes nothing."""
    run_kedro(features_project, "features")
    clips = pd.read_parquet(features_project / "data/03_primary/clips.parquet")
    index = pd.read_parquet(features_project / "data/04_feature/features.parquet")
    assert sorted(index["clip_id"]) == sorted(clips["clip_id"])
    eligible = set(clips.loc[clips["eligible_T"], "clip_id"])
    assert set(index.loc[index["status"] == "ok", "clip_id"]) == eligible
    assert (index.loc[~index["clip_id"].isin(eligible), "status"] == "not_eligible").all()
    ds = FeatureDataset(index, str(features_project / "data/04_feature/shards"))
    rec = ds[0]
    assert rec["latents"].shape[:2] == (768, 5) and rec["latents"].shape[2] == 8 and rec["text"].shape == (16, 384)
    assert rec["audio"] is None or rec["audio"].shape == (17, 5, 384)
    for i, row in enumerate(ds.rows):
        if row["eligible_P"] and isinstance(clips.set_index("clip_id").get("pose_arrays", {}).get(row["clip_id"]), str):
            assert row["has_pose"] and ds[i]["pose"].shape[1:] == (17, row["height"], row["width"])
    run_kedro(features_project, "features")
    summary = json.loads((features_project / "data/08_reporting/features_summary.json").read_text())
    assert summary["computed_clips"] == 0 and summary["reused_clips"] == len(eligible)
