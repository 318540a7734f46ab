"""Declaration of the generate pipeline."""

from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.pipelines.generate.nodes import generate_videos


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(generate_videos,
                 ["params:generate_jobs", "params:generate", "params:caption", "generate_inputs", "generate_models",
                  "generated_videos", "stage3.model"],
                 "generated", name="generate_videos_node"),
        ]
    )
