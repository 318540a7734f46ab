"""Nodes of the features pipeline; the work lives in `features/`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from omnihuman_pipeline.features.config import FeatureConfig
from omnihuman_pipeline.features.run import run_features
from omnihuman_pipeline.features.shards import FeatureStore


def cache_features(clips: pd.DataFrame, feature_store: FeatureStore, features: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Encode every T-eligible clip once into feature shards; resumes from the stored shards.

    Args:
        clips: the clip manifest (`media_path` or the source span, `eligible_T`, optional `caption`, `pose_arrays`, ...).
        feature_store: the shard folder.
        features: `{"frames", "video", "audio", "text", "pose", "store"}` settings (`FeatureConfig`).

    Returns:
        The `features` index (one row per clip: status, backends, hashes, shards) and a summary.
    """
    return run_features(clips, feature_store, FeatureConfig.from_params(features))
