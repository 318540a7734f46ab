"""``MediaFolderDataset``: the list of media files under a folder (recursive), for nodes that decode by path."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path


class MediaFolderDataset(AbstractDataset[list[str], None]):
    """Loads the sorted paths of files under `filepath` whose suffix is one of `extensions`.

    Codecs read local files, so only the local filesystem is supported; hidden files and
    folders (names starting with ".") are skipped. Matching is case-insensitive.

    Example catalog entry:

    .. code-block:: yaml

        raw_videos:
          type: omnihuman_pipeline.datasets.media_folder.MediaFolderDataset
          filepath: data/01_raw
          extensions: [.mp4, .mov, .mkv]
    """

    DEFAULT_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")

    def __init__(self, *, filepath: str, extensions: list[str] | None = None,
                 metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        if protocol not in ("file", ""):
            raise DatasetError(f"MediaFolderDataset reads local folders only, got '{filepath}'")
        self._root = Path(path)
        self._extensions = tuple(e.lower() for e in (extensions or self.DEFAULT_EXTENSIONS))
        self.metadata = metadata

    def load(self) -> list[str]:
        if not self._root.is_dir():
            raise DatasetError(f"raw media folder '{self._root}' does not exist")
        found = []
        for path in self._root.rglob("*"):
            rel = path.relative_to(self._root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            # a dangling or looping symlink is listed too: it gets a row saying so, not silence
            if (path.is_file() or path.is_symlink()) and path.suffix.lower() in self._extensions:
                found.append(str(PurePosixPath(self._root.as_posix()) / rel.as_posix()))
        return sorted(found)

    def save(self, data: None) -> None:
        raise DatasetError("MediaFolderDataset is read-only")

    def _exists(self) -> bool:
        return self._root.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._root), "extensions": list(self._extensions)}
