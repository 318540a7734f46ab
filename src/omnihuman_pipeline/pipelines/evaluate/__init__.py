"""The evaluate pipeline: trained model folders → generated test videos → the paper's metric tables."""

from omnihuman_pipeline.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
