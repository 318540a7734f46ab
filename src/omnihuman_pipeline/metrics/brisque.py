"""BRISQUE (Mittal et al. 2012) of generated videos and reference images: the offline no-reference quality score.

It runs on any machine (the SVR model ships in the `brisque` package) and is reported as `brisque` (roughly 0-100,
**lower is better**), next to q-align's IQA where that is available; it is not IQA and never replaces it.
Procedure: frames sampled at `sample_fps` (1 per second, as the q-align metric samples), each scored with the curate
quality scorer's BRISQUE (`scoring.quality.brisque_score`, at the frames' own resolution: BRISQUE depends on it),
flat frames (no statistics) skipped, mean over the frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.metrics.base import MetricFailure, VideoItem, VideoScore

SAMPLE_FPS = 1.0


@dataclass
class BrisqueMetric:
    """Mean BRISQUE over the sampled frames of one video or one reference image.

    Attributes:
        sample_fps: frames per second scored.
        model_dir: folder with `svm.txt` and `normalize.pickle`; None takes the `brisque` package's model.
    """

    key: ClassVar[str] = "brisque"
    outputs: ClassVar[tuple[str, ...]] = ("brisque",)
    backend: ClassVar[str] = "brisque"
    kind: ClassVar[str] = "per_video"

    sample_fps: float = SAMPLE_FPS
    model_dir: str | None = None
    _model: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        from omnihuman_pipeline.scoring.quality import load_svr

        if self._model is None:
            self._model = load_svr(self.model_dir)

    def score_video(self, item: VideoItem) -> VideoScore:
        from omnihuman_pipeline.scoring.pose import sample_indices
        from omnihuman_pipeline.scoring.quality import brisque_score

        self.setup()
        # frames at `sample_fps`, each scored at its own resolution; flat frames (NaN) left out of the mean
        idx = sample_indices(len(item.generated), item.fps, self.sample_fps, len(item.generated))
        scores = np.array([brisque_score(item.generated[i], self._model) for i in idx])
        ok = scores[np.isfinite(scores)]
        if ok.size == 0:
            raise MetricFailure("flat_frames" if len(idx) else "no_generated_frames")
        return VideoScore({"brisque": float(ok.mean())}, n=int(ok.size))
