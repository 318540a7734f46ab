"""Declaration of the Principle 2 ablation: its variants come from parameters_ablation_principle2.yml."""

from kedro.pipeline import Pipeline

from omnihuman_pipeline.pipelines.ablation_factory import ablation_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return ablation_pipeline("ablation_principle2")
