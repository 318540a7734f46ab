"""Evaluation (paper §4.1): test sets, generation from each test video's first frame and audio, the metric suite,
the paper-style reports. `evaluate_models` is the function the evaluate and ablation pipelines call."""

from omnihuman_pipeline.evaluation.run import EvalResult, EvalSettings, evaluate_models, merge_results
from omnihuman_pipeline.evaluation.test_sets import EvaluationError, TestSet, TestVideo, resolve_test_sets

__all__ = ["EvalResult", "EvalSettings", "EvaluationError", "TestSet", "TestVideo", "evaluate_models",
           "merge_results", "resolve_test_sets"]
