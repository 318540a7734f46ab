"""The train pipeline: three omni-conditions stages, each from the previous stage's weights."""

from omnihuman_pipeline.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
