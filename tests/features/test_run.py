"""run_features: statuses for bad media, resume after an interruption, per-kind invalidation, GC."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pandas as pd
import pytest

from omnihuman_pipeline.features.config import FeatureConfig
from omnihuman_pipeline.features.loader import FeatureDataset
from omnihuman_pipeline.features.pose_maps import load_pose_arrays, render_pose_maps
from omnihuman_pipeline.features.run import run_features
from omnihuman_pipeline.features.shards import FeatureStore


class Interrupted(Exception):
    pass


def _run(table, store, params, **kw):
    return run_features(table, store, FeatureConfig.from_params(params), **kw)


@pytest.fixture(scope="module")
def _first_run_once(tmp_path_factory, clips_table, tiny_params):
    root = tmp_path_factory.mktemp("first_run") / "shards"
    index, summary = _run(clips_table, FeatureStore.at(str(root)), tiny_params)
    return root, index, summary


@pytest.fixture()
def first_run(tmp_path, _first_run_once):
    """One uninterrupted run over the fixture clips (a private copy of its shard folder per test)."""
    root, index, summary = _first_run_once
    shutil.copytree(root, tmp_path / "shards")
    return FeatureStore.at(str(tmp_path / "shards")), index.copy(), summary


def test_statuses_and_index(first_run):
    """Good clips are ok, missing/corrupt media get a status and error, non-T clips are listed as such."""
    _, index, summary = first_run
    status = dict(zip(index["clip_id"], index["status"], strict=True))
    assert status == {"a-000000": "ok", "b-000000": "ok", "c-000000": "ok", "s-000000": "ok",
                      "m-000000": "missing_media", "x-000000": "decode_failed", "n-000000": "not_eligible"}
    ok = index.set_index("clip_id").loc["a-000000"]
    assert (ok["n_frames"], ok["n_latent_frames"], ok["height"], ok["width"]) == (9, 3, 32, 48)
    assert ok["has_pose"] and ok["has_audio"] and ok["audio_layers"] == 5 and ok["latent_channels"] == 768
    assert not index.set_index("clip_id").loc["b-000000", "has_audio"]
    assert index.loc[index.status == "missing_media", "error"].str.contains("not found").all()
    assert summary["computed_clips"] == 4 and summary["statuses"]["ok"] == 4


def test_rerun_computes_nothing(first_run, clips_table, tiny_params):
    """A second run reuses every entry and writes no shard."""
    store, index, _ = first_run
    shards = store.shards()
    again, summary = _run(clips_table, store, tiny_params)
    assert summary["computed_clips"] == 0 and store.shards() == shards
    pd.testing.assert_frame_equal(again, index)


def test_resume_after_interruption_processes_only_the_rest(tmp_path, clips_table, tiny_params, first_run):
    """An exception after 2 computed clips; the rerun computes only the other 2 and equals an uninterrupted run."""
    store = FeatureStore.at(str(tmp_path / "resumed"))
    done = []

    def stop_after_two(clip_id, computed):
        done.extend([clip_id] if computed else [])
        if len(done) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        _run(clips_table, store, tiny_params, on_clip_done=stop_after_two)
    assert len(store.shards()) == 2  # one clip per shard: both committed before the interruption
    index, summary = _run(clips_table, store, tiny_params)
    assert summary["computed_clips"] == 2 and summary["reused_clips"] == 2
    reference = first_run[1]
    cols = ["clip_id", "status", "n_frames", "ref_frame", "video_hash", "audio_hash", "text_hash", "pose_hash"]
    pd.testing.assert_frame_equal(index[cols], reference[cols])


def test_changing_the_text_encoder_reruns_text_only(first_run, clips_table, tiny_params):
    """max_length 8 -> 12: only text entries are recomputed; video/audio/pose entries are reused."""
    store, index, _ = first_run
    params = copy.deepcopy(tiny_params)
    params["text"]["max_length"] = 12
    new, summary = _run(clips_table, store, params)
    assert summary["computed_kinds"] == {"video": 0, "audio": 0, "text": 4, "pose": 0}
    ok = new["status"] == "ok"
    assert (new.loc[ok, "video_shard"] == index.loc[ok, "video_shard"]).all()
    assert (new.loc[ok, "text_hash"] != index.loc[ok, "text_hash"]).all() and (new.loc[ok, "text_length"] == 12).all()


def test_changing_resolution_reruns_video_and_pose_only(first_run, clips_table, tiny_params):
    """short_side 32 -> 48 recomputes video and pose, keeps audio and text; old shards are collected."""
    store, _, _ = first_run
    params = copy.deepcopy(tiny_params)
    params["video"]["short_side"] = 48
    new, summary = _run(clips_table, store, params)
    assert summary["computed_kinds"] == {"video": 4, "audio": 0, "text": 0, "pose": 1}
    assert new.set_index("clip_id").loc["a-000000", "height"] == 48
    referenced = {s for k in ("video", "audio", "text", "pose") for s in new[f"{k}_shard"].dropna()}
    assert set(store.shards()) == referenced


def test_caption_change_reruns_that_clip_only(first_run, clips_table, tiny_params):
    """A new caption for one clip recomputes that clip's text only."""
    store, _, _ = first_run
    table = clips_table.copy()
    table.loc[table.clip_id == "c-000000", "caption"] = "a new caption"
    _, summary = _run(table, store, tiny_params)
    assert summary["computed_clips"] == 1 and summary["computed_kinds"]["text"] == 1


def test_missing_optional_columns(tmp_path, clips_table, tiny_params):
    """Without caption / pose / A / P columns: empty text, no pose, flags False."""
    table = clips_table.drop(columns=["caption", "pose_arrays", "eligible_A", "eligible_P"]).head(1)
    index, _ = _run(table, FeatureStore.at(str(tmp_path)), tiny_params)
    row = index.iloc[0]
    assert row["status"] == "ok" and not row["has_pose"] and row["caption"] == "" and not row["eligible_P"]


def test_audio_features_cover_every_video_frame(first_run):
    """Audio has one feature frame per cached video frame, also when the track is shorter (padded)."""
    store, index, _ = first_run
    ds = FeatureDataset(index, store)
    for rec in ds:
        if rec["audio"] is not None:
            assert rec["audio"].shape[0] == rec["n_frames"]
    short = ds[ds.clip_ids.index("s-000000")]
    assert short["n_frames"] == 13 and short["audio"].shape == (13, 5, 384)


def test_pose_maps_at_load_equal_maps_at_write(first_run, clip_dir, tiny_params):
    """Maps drawn by the loader from stored keypoints equal maps drawn from the keypoints computed at write time."""
    store, index, _ = first_run
    ds = FeatureDataset(index, store)
    rec = ds[ds.clip_ids.index("a-000000")]
    config = FeatureConfig.from_params(tiny_params)
    body, hands = load_pose_arrays(clip_dir / "a.pose.npz", 9, config.pose.max_gap)
    at_write = render_pose_maps(body, hands, 48, 32, min_confidence=config.pose.min_confidence,
                                stick_width=config.pose.stick_width, joint_radius=config.pose.joint_radius)
    assert rec["pose"].shape == (3, 9, 32, 48) and rec["pose"].sum() > 0
    assert np.array_equal(rec["pose"].permute(1, 2, 3, 0).numpy(), at_write)
