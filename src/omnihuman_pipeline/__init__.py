"""omnihuman_pipeline: the OmniHuman-1 lifecycle as Kedro pipelines versioned by DVC."""

__version__ = "0.1.0"
