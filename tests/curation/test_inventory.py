"""Inventory and merge: content-hash ids, duplicates kept with a status, paths relative to the project."""

from __future__ import annotations

import pandas as pd

from omnihuman_pipeline.curation.config import table_path
from omnihuman_pipeline.curation.run import Inventory, build_inventory, merge_shards, scan_inventory
from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset


def test_duplicates_are_set_aside_and_reported(tmp_path, monkeypatch):
    """Byte-identical files run once; the copy gets a `duplicate` row naming the first path; nothing is lost."""
    monkeypatch.chdir(tmp_path)
    for name, data in [("a.mp4", b"same bytes"), ("sub/b.mp4", b"same bytes"), ("c.mp4", b"other")]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    inventory = build_inventory([str(tmp_path / n) for n in ["sub/b.mp4", "c.mp4", "a.mp4"]])
    assert [j.path for j in inventory.jobs] == ["a.mp4", "c.mp4"]
    assert [(j.path, first) for j, first in inventory.duplicates] == [("sub/b.mp4", "a.mp4")]
    store = ResultShardsDataset(filepath=str(tmp_path / "shards")).load()
    for job in inventory.jobs:
        store.write(job.video_id, pd.DataFrame({"clip_id": [f"{job.video_id}-0"], "video_id": [job.video_id],
                                                "start_s": [0.0]}),
                    {"video": {"video_id": job.video_id, "path": "stale/path.mp4", "status": "ok", "error": None}})
    videos, clips = merge_shards(inventory, store)
    assert videos["path"].tolist() == ["a.mp4", "c.mp4", "sub/b.mp4"]
    assert videos["status"].tolist() == ["ok", "ok", "duplicate"]
    assert videos.loc[2, "error"] == "same content as a.mp4"
    assert len(clips) == 2


def test_scan_yields_each_new_job_as_it_is_hashed(tmp_path, monkeypatch):
    """The scan hands out a job as soon as its file is hashed and fills the inventory as it goes."""
    monkeypatch.chdir(tmp_path)
    for name, data in [("a.mp4", b"one"), ("b.mp4", b"one"), ("c.mp4", b"two")]:
        (tmp_path / name).write_bytes(data)
    inventory = Inventory([], [], [])
    scan = scan_inventory([str(tmp_path / n) for n in ["c.mp4", "b.mp4", "a.mp4"]], inventory)
    first = next(scan)
    assert first.path == "a.mp4" and inventory.jobs == [first] and not inventory.duplicates
    assert [j.path for j in scan] == ["c.mp4"]
    assert [(j.path, f) for j, f in inventory.duplicates] == [("b.mp4", "a.mp4")]


def test_missing_shard_is_a_failed_row(tmp_path, monkeypatch):
    """A job whose result never arrived is reported `failed`, not dropped."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.mp4").write_bytes(b"x")
    inventory = build_inventory([str(tmp_path / "x.mp4")])
    videos, clips = merge_shards(inventory, ResultShardsDataset(filepath=str(tmp_path / "s")).load())
    assert videos["status"].tolist() == ["failed"] and videos["error"].tolist() == ["no result stored"]
    assert clips.empty


def test_table_paths_are_relative_inside_the_project(tmp_path):
    """Inside the root a path is stored relative; outside it stays absolute."""
    assert table_path(str(tmp_path / "data" / "v.mp4"), root=str(tmp_path)) == "data/v.mp4"
    assert table_path("/elsewhere/v.mp4", root=str(tmp_path)) == "/elsewhere/v.mp4"


def test_links_empty_files_and_stills_get_rows_with_their_true_status(tmp_path, monkeypatch):
    """A dangling and a looping symlink are listed and unreadable with the reason; two 0-byte files are each
    `empty`, not duplicates; a PNG renamed to .mp4 is unreadable as a still image, not too short."""
    import av
    import numpy as np
    import pytest

    from omnihuman_pipeline.datasets.media_folder import MediaFolderDataset
    from omnihuman_pipeline.media.errors import MediaError
    from omnihuman_pipeline.media.probe import probe

    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "gone.mp4").symlink_to(raw / "missing.mp4")
    (raw / "loop.mp4").symlink_to(raw / "loop.mp4")
    (raw / "a.mov").write_bytes(b"")
    (raw / "b.mov").write_bytes(b"")
    with av.open(str(raw / "still.mp4"), "w", format="image2pipe") as c:
        s = c.add_stream("png")
        s.width, s.height, s.pix_fmt = 16, 16, "rgb24"
        for p in [*s.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")), *s.encode()]:
            c.mux(p)
    paths = MediaFolderDataset(filepath=str(raw)).load()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["a.mov", "b.mov", "gone.mp4", "loop.mp4", "still.mp4"]
    inventory = build_inventory(paths)
    got = {j.path.rsplit("/", 1)[1]: (status, reason) for j, status, reason in inventory.unreadable}
    assert got["a.mov"] == got["b.mov"] == ("empty", "zero-length file") and not inventory.duplicates
    assert got["gone.mp4"][0] == "unreadable" and "broken symbolic link" in got["gone.mp4"][1]
    assert got["loop.mp4"] == ("unreadable", "a symbolic link loop")
    with pytest.raises(MediaError, match="still image") as err:
        probe(raw / "still.mp4", video_only=True)
    assert err.value.status == "unreadable" and probe(raw / "still.mp4").width == 16  # a reference image reads
