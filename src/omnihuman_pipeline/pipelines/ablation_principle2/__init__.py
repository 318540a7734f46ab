"""The Principle 2 ablation (paper Table 1, lower part): variants trained from stage 1 and evaluated."""

from omnihuman_pipeline.pipelines.ablation_principle2.pipeline import create_pipeline

__all__ = ["create_pipeline"]
