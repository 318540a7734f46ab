"""Declaration of the features pipeline."""

from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.pipelines.features.nodes import cache_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(cache_features, ["clips", "feature_store", "params:features"], ["features", "features_summary"],
                 name="cache_features_node"),
        ]
    )
