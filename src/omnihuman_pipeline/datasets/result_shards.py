"""``ResultShardsDataset``: a folder of per-item result shards, written atomically, for resumable runs."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

META_KEY = b"omnihuman_pipeline"


def remove_partial_writes(fs: fsspec.AbstractFileSystem, root: str) -> int:
    """Delete the `*.tmp-*` files a killed writer left in `root` (writes go to such a name, then
    are renamed into place); return how many."""
    if not fs.exists(root):
        return 0
    stale = [p for p in fs.ls(root, detail=False) if ".tmp-" in PurePosixPath(p).name]
    for path in stale:
        fs.rm(path)
    return len(stale)


class ResultShardStore:
    """One Parquet file per key: a table of rows plus a JSON metadata dict in the schema.

    `write` goes to a temporary name and is renamed into place, so a reader sees a shard whole
    or not at all; a killed writer leaves only a `*.tmp-*` file that `clean()` removes.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, media_dir: str | None = None):
        self.fs, self.root = fs, root.rstrip("/")
        self.media_dir = media_dir  # where the items' media files go (e.g. clip videos), if any

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}.parquet"

    def keys(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        names = [PurePosixPath(p).name for p in self.fs.ls(self.root, detail=False)]
        return sorted(n.removesuffix(".parquet") for n in names if n.endswith(".parquet"))

    def write(self, key: str, table: pd.DataFrame, meta: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.fs.makedirs(self.root, exist_ok=True)
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                               META_KEY: json.dumps(meta, default=str).encode()})
        buffer = io.BytesIO()
        pq.write_table(arrow, buffer)
        tmp = f"{self._path(key)}.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as f:
            f.write(buffer.getvalue())
        self.fs.mv(tmp, self._path(key))

    def read(self, key: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        import pyarrow.parquet as pq

        path = self._path(key)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as f:
            arrow = pq.read_table(io.BytesIO(f.read()))
        meta = json.loads((arrow.schema.metadata or {}).get(META_KEY, b"{}"))
        return arrow.to_pandas(), meta

    def read_meta(self, key: str) -> dict[str, Any] | None:
        """Only the metadata of a shard (the Parquet footer, not the rows); None when absent."""
        import pyarrow.parquet as pq

        path = self._path(key)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as f:
            schema = pq.read_schema(f)
        return json.loads((schema.metadata or {}).get(META_KEY, b"{}"))

    def clean(self) -> int:
        """Remove temporary files left by a killed writer; return how many."""
        return remove_partial_writes(self.fs, self.root)


class ResultShardsDataset(AbstractDataset[ResultShardStore, None]):
    """Hands a node a ``ResultShardStore`` over a folder (local or any fsspec protocol).

    Example catalog entry:

    .. code-block:: yaml

        curate_shards:
          type: omnihuman_pipeline.datasets.result_shards.ResultShardsDataset
          filepath: data/02_intermediate/curate_shards
          media_dir: data/02_intermediate/clips

    Example:

        >>> import pandas as pd
        >>> ds = ResultShardsDataset(filepath=str(tmp_path / "shards"))
        >>> store = ds.load()
        >>> store.write("v1", pd.DataFrame({"a": [1]}), {"status": "ok"})
        >>> store.read("v1")[1]
        {'status': 'ok'}
    """

    may_be_absent = True  # a store or folder the pipeline that uses it creates and fills in place

    def __init__(self, *, filepath: str, media_dir: str | None = None, credentials: dict[str, Any] | None = None,
                 fs_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        self._media_dir = media_dir
        self._protocol, self._filepath = protocol, PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **{**(credentials or {}), **(fs_args or {})})
        self.metadata = metadata

    def load(self) -> ResultShardStore:
        return ResultShardStore(self._fs, str(self._filepath), self._media_dir)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is written shard by shard through the store it loads")

    def _exists(self) -> bool:
        return self._fs.exists(str(self._filepath))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._protocol, "media_dir": self._media_dir}
