"""``FeatureShardsDataset``: hands a node the feature shard store (written shard by shard)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from omnihuman_pipeline.features.shards import FeatureStore


class FeatureShardsDataset(AbstractDataset[FeatureStore, None]):
    """A folder of safetensors feature shards (local or any fsspec protocol).

    Example catalog entry:

    .. code-block:: yaml

        feature_store:
          type: omnihuman_pipeline.datasets.feature_shards.FeatureShardsDataset
          filepath: data/04_feature/shards

    Example:

        >>> import torch
        >>> from omnihuman_pipeline.features.shards import PendingEntry
        >>> store = FeatureShardsDataset(filepath=str(tmp_path / "shards")).load()
        >>> [entry] = store.write_shard([PendingEntry("c1", "text", "h", "minilm", {"mask": torch.ones(2)}, {})])
        >>> store.read(entry)["mask"].tolist()
        [1.0, 1.0]
    """

    may_be_absent = True  # a store or folder the pipeline that uses it creates and fills in place

    def __init__(self, *, filepath: str, credentials: dict[str, Any] | None = None,
                 fs_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        self._protocol, self._filepath = protocol, PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **{**(credentials or {}), **(fs_args or {})})
        self.metadata = metadata

    def load(self) -> FeatureStore:
        return FeatureStore(self._fs, str(self._filepath))

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is written shard by shard through the store it loads")

    def _exists(self) -> bool:
        return self._fs.exists(str(self._filepath))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._protocol}
