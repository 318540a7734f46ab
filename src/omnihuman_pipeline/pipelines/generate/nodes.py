"""Nodes of the generate pipeline; the work lives in `inference/`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from omnihuman_pipeline.datasets.local_folder import LocalFolder
from omnihuman_pipeline.datasets.model_folder import ModelFolder
from omnihuman_pipeline.inference.run import GenerateSettings, resolve_jobs, run_jobs


def generate_videos(generate_jobs: list[dict[str, Any]], generate: dict[str, Any], caption: dict[str, Any],
                    generate_inputs: LocalFolder, generate_models: LocalFolder,
                    generated_videos: LocalFolder, final_model: ModelFolder) -> pd.DataFrame:
    """Generate every job's video into the output folder; one row per job.

    Args:
        generate_jobs: the jobs (`name`, `image`, `audio`, `pose`, `text`, `checkpoint`, `seconds`, ...).
        generate: sampling settings (`GenerateSettings`: steps, cfg, segment_frames, device, ...).
        caption: the curate caption settings, for jobs without `text`.
        generate_inputs: folder the jobs' files are named in (data/01_raw).
        generate_models: folder of the model folders (data/06_models).
        generated_videos: folder the mp4s are written to.
        final_model: the last training stage's model, the checkpoint of jobs that name none (and, as an input,
            what makes `kedro run` train before it generates).

    Returns:
        The `generated` table: job, status, error, checkpoint, conditions, seed, steps, cfg, seconds,
        frames, segments, caption, wall_s, output, ... (`inference.run.RESULT_COLUMNS`).
    """
    jobs = resolve_jobs(generate_jobs, inputs=generate_inputs, models=generate_models, outputs=generated_videos,
                        defaults={"checkpoint": str(final_model.path)})
    return run_jobs(jobs, GenerateSettings.from_params(generate), caption)
