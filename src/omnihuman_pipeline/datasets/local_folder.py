"""``LocalFolderDataset``: hands a node a local folder whose files other code reads or writes by path."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path


class LocalFolder:
    """A folder of files named relative to it (codecs and model loaders need local paths).

    Args:
        root: the folder.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """``root / name`` for a relative name (which may not climb out of the folder); an absolute name as is."""
        candidate = Path(name)
        if candidate.is_absolute():
            return candidate
        if ".." in PurePosixPath(candidate.as_posix()).parts:
            raise DatasetError(f"'{name}' climbs out of {self.root}; name files inside it")
        return self.root / candidate

    def files(self, suffix: str = "") -> list[str]:
        """Names (relative, POSIX) of the files under the folder ending with ``suffix``, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob(f"*{suffix}") if p.is_file())

    def __repr__(self) -> str:
        return f"LocalFolder({str(self.root)!r})"


class LocalFolderDataset(AbstractDataset[LocalFolder, None]):
    """A local folder, loaded as a :class:`LocalFolder`; files inside are read and written by path.

    Used where the files are media or model folders that codecs and loaders open by path (generation's
    inputs, checkpoints and output videos). Only the local filesystem is supported. With ``create``
    the folder is made on load (an output folder); otherwise loading a missing folder fails.

    Example catalog entry:

    .. code-block:: yaml

        generated_videos:
          type: omnihuman_pipeline.datasets.local_folder.LocalFolderDataset
          filepath: data/07_model_output/videos
          create: true

    Example:

        >>> folder = LocalFolderDataset(filepath=str(tmp_path / "videos"), create=True).load()
        >>> _ = folder.path("a.mp4").write_bytes(b"")
        >>> folder.files(".mp4")
        ['a.mp4']
    """

    may_be_absent = True  # a store or folder the pipeline that uses it creates and fills in place

    def __init__(self, *, filepath: str, create: bool = False, metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        if protocol not in ("file", ""):
            raise DatasetError(f"LocalFolderDataset reads local folders only, got '{filepath}'")
        self._root = Path(path)
        self._create = create
        self.metadata = metadata

    def load(self) -> LocalFolder:
        if self._create:
            self._root.mkdir(parents=True, exist_ok=True)
        elif not self._root.is_dir():
            raise DatasetError(f"folder '{self._root}' does not exist")
        return LocalFolder(self._root)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is written file by file through the folder it loads")

    def _exists(self) -> bool:
        return self._root.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._root), "create": self._create}
