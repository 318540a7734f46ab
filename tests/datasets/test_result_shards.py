"""ResultShardsDataset: atomic per-key shards with metadata, and cleanup of interrupted writes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from omnihuman_pipeline.datasets.media_folder import MediaFolderDataset
from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset


def test_round_trip_table_and_metadata(tmp_path):
    """A shard gives back its rows, list columns and metadata (NaN included)."""
    store = ResultShardsDataset(filepath=str(tmp_path / "shards"), media_dir="m").load()
    table = pd.DataFrame({"clip_id": ["a", "b"], "score": [1.5, math.nan], "tags": [["x"], []]})
    store.write("v1", table, {"video": {"status": "ok", "duration_s": math.nan}})
    loaded, meta = store.read("v1")
    pd.testing.assert_frame_equal(loaded.drop(columns="tags"), table.drop(columns="tags"))
    assert [list(t) for t in loaded["tags"]] == [["x"], []]
    assert meta["video"]["status"] == "ok" and math.isnan(meta["video"]["duration_s"])
    assert store.keys() == ["v1"] and store.media_dir == "m"
    assert store.read_meta("v1")["video"]["status"] == "ok" and store.read_meta("absent") is None


def test_empty_table_and_missing_key(tmp_path):
    """A video with no clips stores an empty table; an unknown key reads as None."""
    store = ResultShardsDataset(filepath=str(tmp_path)).load()
    store.write("empty", pd.DataFrame(), {"video": {"status": "unreadable"}})
    assert len(store.read("empty")[0]) == 0
    assert store.read("nope") is None


def test_clean_removes_interrupted_writes(tmp_path):
    """Temporary files of a killed writer are removed and never listed as shards."""
    store = ResultShardsDataset(filepath=str(tmp_path)).load()
    store.write("done", pd.DataFrame({"a": [1]}), {})
    (tmp_path / "half.parquet.tmp-123").write_bytes(b"partial")
    assert store.keys() == ["done"]
    assert store.clean() == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["done.parquet"]


def test_dataset_is_not_saved_directly(tmp_path):
    """Saving the dataset itself is refused: shards are written through the store."""
    with pytest.raises(DatasetError):
        ResultShardsDataset(filepath=str(tmp_path)).save(None)


def test_media_folder_lists_videos_recursively(tmp_path):
    """Nested, non-ASCII and upper-case names are found; hidden files and other endings are not."""
    for name in ["a.mp4", "sub/b.MOV", "sub/deeper/ünï 视频.mkv", "notes.txt", ".hidden/x.mp4", "c.mp4.json"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = MediaFolderDataset(filepath=str(tmp_path), extensions=[".mp4", ".mov", ".mkv"]).load()
    assert [p.removeprefix(str(tmp_path) + "/") for p in found] == ["a.mp4", "sub/b.MOV", "sub/deeper/ünï 视频.mkv"]


def test_media_folder_missing_is_an_error(tmp_path):
    """A missing raw folder is a DatasetError naming it."""
    with pytest.raises(DatasetError, match="does not exist"):
        MediaFolderDataset(filepath=str(tmp_path / "missing")).load()
