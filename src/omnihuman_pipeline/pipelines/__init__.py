"""Kedro pipelines; each subpackage exposes `create_pipeline`."""
