"""Declaration of the train pipeline: one stage pipeline reused as namespaces stage1 → stage2 → stage3."""

from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.pipelines.train.nodes import train_omnihuman_stage

SHARED = {"features", "feature_store", "clips"}
SHARED_PARAMS = {"params:train": "params:train", "params:features": "params:features"}


def stage_pipeline() -> Pipeline:
    return Pipeline([
        Node(train_omnihuman_stage,
             ["features", "feature_store", "clips", "run", "init_model", "params:train", "params:stage",
              "params:features"],
             ["model", "report"], name="train_omnihuman_stage_node"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    starts = {"stage1": "pretrained_t2v", "stage2": "stage1.model", "stage3": "stage2.model"}
    return sum(
        (Pipeline(stage_pipeline(), namespace=name, inputs={**{s: s for s in SHARED}, "init_model": start},
                  parameters={**SHARED_PARAMS, "params:stage": f"params:{name}"})
         for name, start in starts.items()),
        Pipeline([]),
    )
