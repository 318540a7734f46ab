"""The generate pipeline: reference image + driving signals → videos and their table."""

from omnihuman_pipeline.pipelines.generate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
