"""Evaluation (paper §4.1): test sets, generation from each test video's first frame and audio, the metric suite,
the paper-style reports."""

from omnihuman_pipeline.evaluation.test_sets import EvaluationError, TestSet, TestVideo, resolve_test_sets

__all__ = ["EvaluationError", "TestSet", "TestVideo", "resolve_test_sets"]
