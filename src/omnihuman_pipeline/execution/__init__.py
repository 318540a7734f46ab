"""Run one per-item function over many items: in process, in a process pool, or on Ray."""

from omnihuman_pipeline.execution.executor import EXECUTORS, map_unordered

__all__ = ["EXECUTORS", "map_unordered"]
