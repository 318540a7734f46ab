"""The curate pipeline: raw videos → scene clips → scored, explained clip manifest."""

from omnihuman_pipeline.pipelines.curate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
