"""Shared fixtures: the tiny corpus is generated once per session (about 20 s on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihuman_pipeline.corpus.generate import VideoTruth, generate_corpus
from tests.corpus.corpus_helpers import UNRELATED


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, VideoTruth]]:
    """The tiny corpus (seed 0) written next to an unrelated file, and its truth by relpath."""
    root = tmp_path_factory.mktemp("corpus")
    (root / UNRELATED).parent.mkdir()
    (root / UNRELATED).write_text("not ours\n")
    truths = generate_corpus(root, profile="tiny", seed=0)
    return root, {t.relpath: t for t in truths}
