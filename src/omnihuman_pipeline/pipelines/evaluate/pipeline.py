"""Declaration of the evaluate pipeline."""

from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.pipelines.evaluate.nodes import (
    evaluate_checkpoints,
    plot_strips,
    report_evaluation,
    select_test_sets,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(select_test_sets,
                 ["features", "feature_store", "clips", "params:train", "params:evaluate_test_sets",
                  "eval_test_media"],
                 "eval_test_sets", name="select_test_sets_node"),
            Node(evaluate_checkpoints,
                 ["eval_test_sets", "eval_models", "eval_videos", "params:evaluate_methods", "params:evaluate",
                  "params:evaluate_run", "params:generate", "params:caption", "stage3.model"],
                 "eval_result", name="evaluate_checkpoints_node"),
            Node(report_evaluation, ["eval_result", "params:evaluate_report"],
                 ["eval_metrics", "eval_summary", "eval_table", "eval_per_video", "eval_generated"],
                 name="report_evaluation_node"),
            Node(plot_strips, "eval_result", "eval_strips", name="plot_strips_node"),
        ]
    )
