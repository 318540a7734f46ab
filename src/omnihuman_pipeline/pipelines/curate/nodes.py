"""Nodes of the curate pipeline; the work lives in `curation/`, `media/` and `scoring/`."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from omnihuman_pipeline.curation import report
from omnihuman_pipeline.curation.config import CurateConfig, MediaConfig
from omnihuman_pipeline.curation.media_step import write_clip_media
from omnihuman_pipeline.curation.run import run_curation
from omnihuman_pipeline.datasets.result_shards import ResultShardStore
from omnihuman_pipeline.scoring.caption import caption_clips
from omnihuman_pipeline.scoring.eligibility import assign_eligibility, gate_gaps
from omnihuman_pipeline.scoring.speech import transcribe_clips

logger = logging.getLogger(__name__)


def curate_videos(raw_videos: list[str], curate_store: ResultShardStore, media: dict[str, Any],
                  scenes: dict[str, Any], scorers: dict[str, dict[str, Any]], executor: dict[str, Any]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Split every raw video into 25 fps scene clips and score each clip; resumes from stored shards.

    Writes no clip media (`write_selected_media` does, after eligibility).

    Args:
        raw_videos: paths of the raw video files.
        curate_store: per-video result shards (and where per-clip arrays are written).
        media: decode settings (`MediaConfig`).
        scenes: scene-split settings (`SceneSplitConfig`).
        scorers: `{signal: {"backend": ..., **settings}}`.
        executor: `{"name": "local"|"ray"|"serial", "workers": n, ...}`.

    Returns:
        The `videos` table, the clip scores, and the seconds spent per stage.
    """
    config = CurateConfig.from_params(media, scenes, scorers, clips_dir=curate_store.media_dir)
    return run_curation(raw_videos, curate_store, config, executor)


def assign_clip_eligibility(clip_scores: pd.DataFrame, eligibility: dict[str, Any], scorers: dict[str, Any]
                            ) -> pd.DataFrame:
    """Add `eligible_T` (and further classes) with every failed criterion in `reasons`.

    Args:
        clip_scores: one row per clip with score columns.
        eligibility: `{"base": "T", "rules": {"T": {column: {"min"|"max": value}}}}`.
        scorers: the scorer settings, to warn where a scorer's gate is stricter than a rule (`gate_gaps`).

    Returns:
        The `clips` table.
    """
    for gap in gate_gaps(scorers, eligibility["rules"]):
        logger.warning("%s: those clips get no score and fail the rules that need it", gap)
    return assign_eligibility(clip_scores, eligibility["rules"], base=eligibility.get("base"))


def write_selected_media(clips_eligible: pd.DataFrame, videos: pd.DataFrame, curate_store: ResultShardStore,
                         media: dict[str, Any], executor: dict[str, Any], analysis_timings: dict[str, float]
                         ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Write the clip media `media.write_clips` selects (default: T-eligible clips); add `media_path` to every clip.

    Args:
        clips_eligible: the clip table with eligibility.
        videos: the `videos` table (source paths and sizes).
        curate_store: where clip media are written (`media_dir`).
        media: decode/encode settings (`MediaConfig`: `write_clips`, `gc`, `clip_short_side`, `crf`, `preset`).
        executor: `{"name": "local"|"ray"|"serial", "workers": n, ...}`.
        analysis_timings: seconds per stage of the analysis pass.

    Returns:
        The clip table with media columns, and the seconds per stage of analysis and media together.
    """
    clips, timings = write_clip_media(clips_eligible, videos, MediaConfig(**media), curate_store.media_dir, executor)
    return clips, {**analysis_timings, **timings}


def caption_eligible_clips(clips_eligible: pd.DataFrame, caption: dict[str, Any]) -> pd.DataFrame:
    """Transcribe speaking eligible clips, then add `caption` (the text condition, paper §3.4).

    Args:
        clips_eligible: the clip table with eligibility.
        caption: `{"backend": "signals" | "vlm", ..., "transcribe": {...} | None}` (see
            `scoring.caption.caption_clips` and `scoring.speech.transcribe_clips`).

    Returns:
        The `clips` table.
    """
    settings = dict(caption)
    transcribe = settings.pop("transcribe", None)
    clips = transcribe_clips(clips_eligible, **transcribe) if transcribe else clips_eligible
    return caption_clips(clips, settings)


def summarize_curation(videos: pd.DataFrame, clips: pd.DataFrame, curate_timings: dict[str, float],
                       eligibility: dict[str, Any]) -> tuple[dict[str, Any], Figure, Figure]:
    """Counts, hours and rejection reasons (JSON), the funnel plot and the score histograms."""
    classes = tuple(eligibility["rules"])
    summary = report.summarize(videos, clips, curate_timings, classes)
    return (summary, report.funnel_figure(summary, classes),
            report.score_histograms(clips, eligibility["rules"]))
