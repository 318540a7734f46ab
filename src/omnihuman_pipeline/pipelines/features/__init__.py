"""The features pipeline: eligible clips → cached latents, audio, text and pose keypoints in shards."""

from omnihuman_pipeline.pipelines.features.pipeline import create_pipeline

__all__ = ["create_pipeline"]
