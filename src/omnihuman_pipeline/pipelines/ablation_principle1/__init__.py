"""The Principle 1 ablation (paper Table 1, upper part): variants trained from stage 1 and evaluated."""

from omnihuman_pipeline.pipelines.ablation_principle1.pipeline import create_pipeline

__all__ = ["create_pipeline"]
