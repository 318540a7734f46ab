"""Curation orchestration: the per-video task, result shards and the clip tables."""
