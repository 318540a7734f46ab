"""LocalFolderDataset: a folder handed to a node; files written through it are found on the next load."""

from __future__ import annotations

import pytest
from kedro.io.core import DatasetError

from omnihuman_pipeline.datasets.local_folder import LocalFolderDataset


def test_load_write_load_round_trip(tmp_path):
    """`create` makes the folder; a file written at folder.path(name) is listed by the next load."""
    dataset = LocalFolderDataset(filepath=str(tmp_path / "videos"), create=True)
    assert not dataset.exists()
    folder = dataset.load()
    folder.path("sub/a.mp4").parent.mkdir(parents=True)
    folder.path("sub/a.mp4").write_bytes(b"x")
    assert dataset.exists() and dataset.load().files(".mp4") == ["sub/a.mp4"]
    assert folder.path("/abs/file.wav").as_posix() == "/abs/file.wav"


def test_missing_folder_escape_and_save_are_errors(tmp_path):
    """A missing input folder, a name climbing out of it, save(), and a remote URL raise DatasetError."""
    with pytest.raises(DatasetError, match="does not exist"):
        LocalFolderDataset(filepath=str(tmp_path / "none")).load()
    folder = LocalFolderDataset(filepath=str(tmp_path), create=True).load()
    with pytest.raises(DatasetError, match="climbs out"):
        folder.path("../etc/passwd")
    with pytest.raises(DatasetError, match="file by file"):
        LocalFolderDataset(filepath=str(tmp_path)).save("videos")
    with pytest.raises(DatasetError, match="local folders only"):
        LocalFolderDataset(filepath="s3://bucket/videos")
