"""Nodes of the evaluate pipeline; the work lives in `evaluation/`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from omnihuman_pipeline.datasets.local_folder import LocalFolder
from omnihuman_pipeline.datasets.model_folder import ModelFolder
from omnihuman_pipeline.evaluation.plots import strip_figure
from omnihuman_pipeline.evaluation.report import metrics_records, metrics_summary, metrics_table
from omnihuman_pipeline.evaluation.run import EvalResult, EvalSettings, evaluate_models, resolve_model_folders
from omnihuman_pipeline.evaluation.test_sets import TestSet, resolve_test_sets
from omnihuman_pipeline.features.shards import FeatureStore


def select_test_sets(features: pd.DataFrame, feature_store: FeatureStore, clips: pd.DataFrame, train: dict[str, Any],
                     evaluate_test_sets: dict[str, Any], eval_test_media: LocalFolder) -> list[TestSet]:
    """The configured test sets: the training split's held-out clips and/or folders of real videos.

    Args:
        features: the features index (the validation split is recomputed from it).
        feature_store: the feature shards (clips in unreadable shards leave the split, as in training).
        clips: the curate clips table (media, caption, pose of the held-out clips).
        train: the `train` parameters (`data.val_fraction`, `val_min_videos`, `seed` of the split).
        evaluate_test_sets: name -> `{source, label, drives, folder, eligible, max_videos, seed}`.
        eval_test_media: the folder `folder` test sets are named in (data/01_raw).

    Returns:
        The test sets, each with its videos.
    """
    return resolve_test_sets(evaluate_test_sets, features=features, clips=clips, train=train, store=feature_store,
                             media_root=eval_test_media.root)


def evaluate_checkpoints(eval_test_sets: list[TestSet], eval_models: LocalFolder, eval_videos: LocalFolder,
                         evaluate_methods: list[str], evaluate: dict[str, Any], evaluate_run: dict[str, Any],
                         generate: dict[str, Any], caption: dict[str, Any], final_model: ModelFolder) -> EvalResult:
    """Generate every test video with each model and score it against the real one.

    Args:
        eval_test_sets: the test sets.
        eval_models: the model folders' folder (data/06_models).
        eval_videos: where the generated videos are written (data/07_model_output/eval).
        evaluate_methods: model folders to evaluate (e.g. `[stage2, stage3]`).
        evaluate: the metric suite's settings (metrics, device, weights, bootstrap, options).
        evaluate_run: max_seconds, seed, strip plot sizes, `generate` overrides.
        generate: the generate pipeline's sampling settings.
        caption: the curate caption settings, for test videos without a caption.
        final_model: the last training stage's model (evaluated when `evaluate_methods` is empty; as an input,
            what makes `kedro run` train before it evaluates).

    Returns:
        Metric rows, per-video rows, generated-video rows and strip frames.
    """
    models = resolve_model_folders(eval_models.root, evaluate_methods or [str(final_model.path)])
    settings = EvalSettings.from_params(evaluate_run, generate, evaluate)
    return evaluate_models(models, eval_test_sets, settings, caption, eval_videos.root)


def report_evaluation(eval_result: EvalResult, evaluate_report: dict[str, Any]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any], str, pd.DataFrame, pd.DataFrame]:
    """The reports of an evaluation.

    Args:
        eval_result: what the evaluation measured.
        evaluate_report: `metrics_table` options (`hide`: result names left out, `digits`, `title`).

    Returns:
        The metric rows (JSON), the DVC summary `{test_set: {method: {metric: value}}}`, the markdown table,
        the per-video rows and the generated-video rows.
    """
    table = metrics_table(eval_result.metrics, eval_result.test_set_labels, per_video=eval_result.per_video,
                          **evaluate_report)
    return (metrics_records(eval_result.metrics), metrics_summary(eval_result.metrics), table,
            eval_result.per_video, eval_result.generated)


def plot_strips(eval_result: EvalResult) -> Any:
    """Reference, real and generated frames of the first test videos of each test set, as one figure."""
    return strip_figure(eval_result.strips)
