"""Nodes of the train pipeline; the work lives in `training/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from omnihuman_pipeline.datasets.model_folder import ModelFolder, RunFolder, TrainedModel
from omnihuman_pipeline.features.shards import FeatureStore
from omnihuman_pipeline.training.run import train_stage


def train_omnihuman_stage(features: pd.DataFrame, feature_store: FeatureStore, clips: pd.DataFrame, run: RunFolder,
                          init_model: ModelFolder | Path | None, train: dict[str, Any], stage: dict[str, Any],
                          feature_settings: dict[str, Any]) -> tuple[TrainedModel, dict[str, Any]]:
    """Train one stage from the previous stage's weights (or scratch / a T2V checkpoint for stage 1).

    Args:
        features: the features index.
        feature_store: the feature shards.
        clips: the curate clip table (names the rules behind missing eligible clips in errors).
        run: the stage's checkpoint and log folders; its name names the stage.
        init_model: the previous stage's model folder, a text-to-video checkpoint, or None.
        train: shared training settings (`TrainSettings`).
        stage: this stage's settings (`StageSettings`).
        feature_settings: the features settings, recorded in the model card.

    Returns:
        The exported model (EMA weights + card) and the stage report.
    """
    outcome = train_stage(features, feature_store, run, init_model, train, stage, name=run.path.name,
                          features=feature_settings, clips=clips)
    return outcome.model, outcome.report
