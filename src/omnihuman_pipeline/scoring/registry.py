"""Build the configured scorers and run them on a clip into flat manifest columns.

Config shape (one entry per signal, e.g. `parameters_curate.yml: scorers`):

    {"motion": {"backend": "dis", "n_windows": 8},
     "quality": {"backend": "brisque"},
     "aesthetic": {"backend": "image_stats"},
     "person": {"backend": "mediapipe", "n_frames": 5}}

A signal set to None/false, or with `enabled: false`, is skipped. `when` gates a costly scorer on the
columns of the scorers before it, with the eligibility rule syntax: `sync: {backend: mouth_envelope,
when: {speech_ratio: {min: 0.05}}}` does not run FaceMesh on silent clips; the skipped score is NaN with
error `skipped:speech_ratio<0.05`. Every other key is a field of the backend's scorer dataclass; a key it
does not have is an error, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

from omnihuman_pipeline.scoring.aesthetic import AESTHETIC_BACKENDS
from omnihuman_pipeline.scoring.base import AnalysisClip, Score, Scorer
from omnihuman_pipeline.scoring.face import FACE_BACKENDS
from omnihuman_pipeline.scoring.lipsync import SYNC_BACKENDS
from omnihuman_pipeline.scoring.motion import MOTION_BACKENDS
from omnihuman_pipeline.scoring.person import PERSON_BACKENDS
from omnihuman_pipeline.scoring.pose import POSE_BACKENDS
from omnihuman_pipeline.scoring.quality import QUALITY_BACKENDS
from omnihuman_pipeline.scoring.speech import SPEECH_BACKENDS

logger = logging.getLogger(__name__)

SCORER_BACKENDS: dict[str, dict[str, type]] = {
    "motion": MOTION_BACKENDS,
    "quality": QUALITY_BACKENDS,
    "aesthetic": AESTHETIC_BACKENDS,
    "person": PERSON_BACKENDS,
    "face": FACE_BACKENDS,
    "pose": POSE_BACKENDS,
    "speech": SPEECH_BACKENDS,
    "sync": SYNC_BACKENDS,
}
DEFAULT_BACKENDS = {
    "motion": "dis",
    "quality": "brisque",
    "aesthetic": "image_stats",
    "person": "mediapipe",
    "face": "mediapipe",
    "pose": "mediapipe",
    "speech": "silero_whisper",
    "sync": "mouth_envelope",
}


def build_scorer(signal: str, backend: str | None = None, **params: Any) -> Scorer:
    """One scorer by signal and backend name.

    Args:
        signal: "motion", "quality", "aesthetic" or "person".
        backend: a name in that signal's registry; None takes the offline default.
        **params: fields of the backend's scorer dataclass.

    Raises:
        ValueError: unknown signal, backend or parameter (the message lists what exists).
    """
    if signal not in SCORER_BACKENDS:
        raise ValueError(f"unknown scorer signal '{signal}'; known: {sorted(SCORER_BACKENDS)}")
    backends = SCORER_BACKENDS[signal]
    backend = backend or DEFAULT_BACKENDS[signal]
    if backend not in backends:
        raise ValueError(f"unknown {signal} backend '{backend}'; known: {sorted(backends)}")
    cls = backends[backend]
    allowed = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"{signal} backend '{backend}' has no parameter(s) {sorted(unknown)}; known: {sorted(allowed)}"
        )
    return cls(**params)


class GatedScorer:
    """A scorer that runs only when the clip's earlier columns pass `when` (eligibility rule syntax)."""

    def __init__(self, scorer: Scorer, when: dict[str, dict[str, Any]]):
        self.scorer, self.when = scorer, when
        self.signal, self.backend = scorer.signal, scorer.backend

    def setup(self) -> None:
        self.scorer.setup()

    def score(self, clip: AnalysisClip) -> Score:
        return self.scorer.score(clip)

    def blocked_by(self, row: dict[str, Any]) -> list[str]:
        """The `when` rules the row fails (empty: run the scorer)."""
        from omnihuman_pipeline.scoring.eligibility import rule_reasons

        return rule_reasons(row, self.when)


def build_scorers(config: dict[str, Any]) -> list[Scorer]:
    """Scorers for every enabled signal in `config`, in its order; weights are not loaded yet.

    Call `setup_scorers` once per worker before scoring (scorers are cheap to pickle until then).

    Args:
        config: {signal: {"backend": name, **params} | None | False}.

    Returns:
        The scorers.

    Raises:
        ValueError: an unknown signal, backend or parameter.
    """
    scorers = []
    for signal, entry in config.items():
        if entry is None or entry is False:
            continue
        params = dict(entry)
        if not params.pop("enabled", True):
            continue
        when = params.pop("when", None)
        scorer = build_scorer(signal, params.pop("backend", None), **params)
        scorers.append(GatedScorer(scorer, when) if when else scorer)
    return scorers


def check_weights(scorers: list[Scorer]) -> None:
    """Resolve every real backend's weight files in this process, before any worker starts: a missing file is one
    ``WeightsNotFoundError`` naming it, not the same message inside every worker's traceback.

    A scorer declares ``weights = {weights key: field holding an explicit path}``.
    """
    from omnihuman_pipeline.weights import resolve

    for scorer in scorers:
        inner = getattr(scorer, "scorer", scorer)  # a GatedScorer wraps the scorer
        for key, field in getattr(inner, "weights", {}).items():
            resolve(key, getattr(inner, field, None))


def setup_scorers(scorers: list[Scorer]) -> list[Scorer]:
    """Load every scorer's models (once per worker); returns the same list."""
    for scorer in scorers:
        scorer.setup()
    return scorers


def score_columns(signal: str, score: Score) -> dict[str, Any]:
    """Flat manifest columns of one score: `<signal>`, `<signal>_backend`, `<signal>_error`, `<signal>_<extra>`."""
    row = {signal: float(score.value), f"{signal}_backend": score.backend, f"{signal}_error": score.error}
    row.update({f"{signal}_{key}": value for key, value in score.extra.items()})
    return row


def score_clip(clip: AnalysisClip, scorers: list[Scorer],
               arrays: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run every scorer on a clip; a scorer that raises costs its own columns, never the clip.

    Args:
        clip: the decoded clip.
        scorers: from `build_scorers` (set up or not: `setup()` is idempotent and runs on first use).
        arrays: when given, filled with `{signal: score.arrays}` for scorers that return arrays.

    Returns:
        Flat columns per scorer (see `score_columns`) plus `timing_<signal>`, its wall time in s.
        A scorer that raised has value NaN and `<signal>_error = "exception: <Type>: <message>"`.
    """
    row: dict[str, Any] = {}
    for scorer in scorers:
        start = time.perf_counter()
        blocked = scorer.blocked_by(row) if isinstance(scorer, GatedScorer) else []
        try:
            score = Score.failed(scorer.backend, "skipped:" + ",".join(blocked)) if blocked else scorer.score(clip)
        except Exception as exc:  # noqa: BLE001  (one broken scorer must not lose the clip's other scores)
            logger.warning(
                "scorer %s/%s failed on clip %s: %r", scorer.signal, scorer.backend, clip.clip_id, exc
            )
            score = Score(math.nan, scorer.backend, f"exception: {type(exc).__name__}: {exc}")
        row.update(score_columns(scorer.signal, score))
        if arrays is not None and score.arrays:
            arrays[scorer.signal] = score.arrays
        row[f"timing_{scorer.signal}"] = time.perf_counter() - start
    return row
