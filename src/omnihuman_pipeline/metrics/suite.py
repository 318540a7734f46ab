"""The evaluation suite (paper §4.1, Tables 1-4): every requested metric over a test set, per video and per set.

`evaluate(items, config)` returns

- a per-video DataFrame, one row per video x metric output: `video_id`, `metric`, `value`, `backend`, `status`
  ("ok" | "unavailable" | "failed"), `reason`, `n` (frames / clips / windows used). FID and FVD rows carry the
  number of generated feature vectors and value NaN: they are distances between sets, not per-video numbers;
- a list of set-level `MetricResult`s: the mean over videos (per-video metrics) or the Fréchet distance of all
  generated vs all real features (FID, FVD), with a percentile bootstrap 95 % interval that resamples videos
  (for FID / FVD a resample takes the drawn videos' generated and real features together).

Each metric loads its weights once (`setup()`); missing weights make it "unavailable" with the
`WeightsNotFoundError` message as the reason, for every video and the set. An offline default always reports
under its own name (`sync_conf_mouth_envelope`, `hkc_mediapipe`, ...), never under a real metric's.
`evaluate_reference_images` scores reference images alone (Table 1's "Ref Img" row: IQA, ASE, BRISQUE).

Config (a dict, e.g. `params:evaluate`)::

    metrics: [fid, fvd, sync, sync_mouth_envelope, hands, hands_mediapipe, akd, akd_mediapipe, qalign, brisque]
    device: cpu                      # or cuda
    weights: {inception_fid: /path/pt_inception-2015-12-05-6726825d.pth, i3d_fvd: ..., syncnet: ...,
              qalign: /path/one-align, dwpose_det: ..., dwpose_pose: ...}   # None: conf/local or env
    bootstrap: {n: 1000, n_frechet: 100, level: 0.95, seed: 0}
    options: {fid: {max_frames: 64}, hands_mediapipe: {sample_fps: 5.0}, ...}  # metric constructor fields
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from omnihuman_pipeline.metrics.base import (
    DEFAULT_LEVEL,
    DEFAULT_N_BOOTSTRAP,
    MetricFailure,
    MetricResult,
    MetricUnavailable,
    VideoItem,
    bootstrap_indices,
    mean_with_interval,
    percentile_interval,
)
from omnihuman_pipeline.metrics.brisque import BrisqueMetric
from omnihuman_pipeline.metrics.fid import FID
from omnihuman_pipeline.metrics.fvd import FVD
from omnihuman_pipeline.metrics.hands import DWPoseHands, MediaPipeHands
from omnihuman_pipeline.metrics.identity import FaceIdentityMetric
from omnihuman_pipeline.metrics.keypoints import DWPoseAKD, MediaPipeAKD
from omnihuman_pipeline.metrics.qalign import QAlignMetric
from omnihuman_pipeline.metrics.sync import MouthEnvelopeSyncMetric, SyncNetSyncMetric
from omnihuman_pipeline.weights import WeightsNotFoundError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

METRICS: dict[str, type] = {cls.key: cls for cls in (
    FID, FVD, SyncNetSyncMetric, MouthEnvelopeSyncMetric, DWPoseHands, MediaPipeHands, DWPoseAKD, MediaPipeAKD,
    QAlignMetric, BrisqueMetric, FaceIdentityMetric)}  # fmt: skip
REFERENCE_METRICS = ("qalign", "brisque")  # the metrics that score a single image
DEFAULT_N_BOOTSTRAP_FRECHET = 100  # each FID/FVD resample refits 2048-d covariances: seconds, not microseconds
# constructor field <- weights key
WEIGHT_FIELDS = {"fid": {"weights_path": "inception_fid"}, "fvd": {"weights_path": "i3d_fvd"},
                 "sync": {"weights_path": "syncnet"}, "qalign": {"weights_path": "qalign"},
                 "hands": {"det_path": "dwpose_det", "pose_path": "dwpose_pose"},
                 "akd": {"det_path": "dwpose_det", "pose_path": "dwpose_pose"}}  # fmt: skip
ROW_COLUMNS = ["video_id", "metric", "value", "backend", "status", "reason", "n"]


def build_metric(key: str, config: Mapping[str, Any] | None = None):
    """The metric `key` of `METRICS`, configured from `config` (weights, device, options[key]).

    Raises:
        ValueError: an unknown key or option (a configuration error, not a measurement failure).
    """
    if key not in METRICS:
        raise ValueError(f"unknown metric '{key}'; known: {sorted(METRICS)}")
    cls, config = METRICS[key], config or {}
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = dict((config.get("options") or {}).get(key) or {})
    for field_name, weights_key in WEIGHT_FIELDS.get(key, {}).items():
        kwargs.setdefault(field_name, (config.get("weights") or {}).get(weights_key))
    if "device" in names and "device" in config:
        kwargs.setdefault("device", config["device"])
    unknown = set(kwargs) - names
    if unknown:
        raise ValueError(f"metric '{key}' has no option(s) {sorted(unknown)}; options: {sorted(names)}")
    return cls(**kwargs)


def _row(item_id: str, name: str, value: float, backend: str, status: str, reason: str | None, n: int) -> dict:
    return dict(zip(ROW_COLUMNS, (item_id, name, value, backend, status, reason, n), strict=True))


def _per_video(metric, items: list[VideoItem], boot: Mapping[str, Any]) -> tuple[list[dict], list[MetricResult]]:
    rows, values = [], {name: [] for name in metric.outputs}
    for item in items:
        try:
            score = metric.score_video(item)
        except MetricFailure as err:
            rows += [_row(item.video_id, o, math.nan, metric.backend, "failed", str(err), 0) for o in metric.outputs]
            continue
        except Exception as err:  # a bad video must not stop the evaluation; keep the reason and go on
            logger.warning("%s failed on %s", metric.key, item.video_id, exc_info=True)
            reason = f"{type(err).__name__}: {err}"
            rows += [_row(item.video_id, o, math.nan, metric.backend, "failed", reason, 0) for o in metric.outputs]
            continue
        for name in metric.outputs:
            value = float(score.values.get(name, math.nan))
            ok = math.isfinite(value)
            rows.append(_row(item.video_id, name, value, metric.backend, "ok" if ok else "failed",
                             None if ok else "not_finite", score.n))  # fmt: skip
            if ok:
                values[name].append(value)
    results = []
    for name, vals in values.items():
        if not vals:
            results.append(MetricResult.not_ok(name, metric.backend, "failed", "no video scored"))
            continue
        mean, lo, hi = mean_with_interval(np.array(vals), n_bootstrap=boot["n"], level=boot["level"], seed=boot["seed"])
        results.append(MetricResult(name, mean, metric.backend, "ok", None, len(vals), lo, hi))
    return rows, results


def _distribution(metric, items: list[VideoItem], boot: Mapping[str, Any]) -> tuple[list[dict], list[MetricResult]]:
    from omnihuman_pipeline.metrics.frechet import frechet_from_features

    (name,) = metric.outputs
    rows, gen, real = [], [], []
    for item in items:
        try:
            g, r = metric.features(item)
        except Exception as err:
            if not isinstance(err, MetricFailure):
                logger.warning("%s failed on %s", metric.key, item.video_id, exc_info=True)
            reason = str(err) if isinstance(err, MetricFailure) else f"{type(err).__name__}: {err}"
            rows.append(_row(item.video_id, name, math.nan, metric.backend, "failed", reason, 0))
            continue
        rows.append(_row(item.video_id, name, math.nan, metric.backend, "ok", None, len(g)))
        gen.append(g)
        real.append(r)
    if sum(map(len, gen)) < 2 or sum(map(len, real)) < 2:
        return rows, [MetricResult.not_ok(name, metric.backend, "failed", "fewer than 2 feature vectors", len(gen))]
    try:
        value = frechet_from_features(np.concatenate(gen), np.concatenate(real))
    except ValueError as err:
        return rows, [MetricResult.not_ok(name, metric.backend, "failed", str(err), len(gen))]
    lo = hi = math.nan
    if len(gen) >= 2 and boot["n_frechet"] > 0:
        draws = [frechet_from_features(np.concatenate([gen[i] for i in idx]), np.concatenate([real[i] for i in idx]),
                                       fast=True)
                 for idx in bootstrap_indices(len(gen), boot["n_frechet"], boot["seed"])]  # fmt: skip
        lo, hi = percentile_interval(np.array(draws), boot["level"])
    return rows, [MetricResult(name, value, metric.backend, "ok", None, len(gen), lo, hi)]


def _bootstrap_config(config: Mapping[str, Any]) -> dict[str, Any]:
    boot = {"n": DEFAULT_N_BOOTSTRAP, "n_frechet": DEFAULT_N_BOOTSTRAP_FRECHET, "level": DEFAULT_LEVEL, "seed": 0}
    return {**boot, **(config.get("bootstrap") or {})}


def evaluate(items: Iterable[VideoItem],
             config: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, list[MetricResult]]:
    """Score a test set with every metric `config["metrics"]` names (default: all of `METRICS`).

    Args:
        items: the test videos (`VideoItem`: generated frames uint8 [T, H, W, 3], real frames or None, audio or
            None, sample rate, fps).
        config: see the module docstring.

    Returns:
        (per-video pandas DataFrame with `ROW_COLUMNS`, list of set-level `MetricResult`s in config order).
    """
    import pandas as pd

    config, items = config or {}, list(items)
    boot = _bootstrap_config(config)
    rows, results = [], []
    for key in config.get("metrics") or list(METRICS):
        metric = build_metric(key, config)
        try:
            metric.setup()
        except (WeightsNotFoundError, ImportError, MetricUnavailable) as err:
            status, reason = "unavailable", str(err)
        except Exception as err:
            logger.warning("%s could not be set up", key, exc_info=True)
            status, reason = "failed", f"setup: {type(err).__name__}: {err}"
        else:
            run = _distribution if metric.kind == "distribution" else _per_video
            new_rows, new_results = run(metric, items, boot)
            rows += new_rows
            results += new_results
            logger.info("%s (%s): %s", key, metric.backend,
                        ", ".join(f"{r.name}={r.value:.4g} over {r.n}/{len(items)} videos" for r in new_results))
            continue
        logger.info("%s (%s) %s: %s", key, metric.backend, status, reason)
        for name in metric.outputs:
            rows += [_row(item.video_id, name, math.nan, metric.backend, status, reason, 0) for item in items]
            results.append(MetricResult.not_ok(name, metric.backend, status, reason))
    return pd.DataFrame(rows, columns=ROW_COLUMNS), results


def evaluate_reference_images(images: Mapping[str, np.ndarray],
                              config: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, list[MetricResult]]:
    """Score reference images alone (Table 1's "Ref Img" row): the image metrics of `config` (IQA/ASE, BRISQUE).

    Args:
        images: video_id -> uint8 RGB reference image [H, W, 3].
        config: as for `evaluate`; metrics other than `REFERENCE_METRICS` are left out.

    Returns:
        As `evaluate`.
    """
    config = dict(config or {})
    config["metrics"] = [k for k in (config.get("metrics") or list(METRICS)) if k in REFERENCE_METRICS]
    items = [VideoItem(vid, np.asarray(img)[None]) for vid, img in images.items()]
    return evaluate(items, config)


def results_frame(results: Iterable[MetricResult]) -> pd.DataFrame:
    """Set-level results as a pandas DataFrame, one row per result (the `MetricResult` fields as columns)."""
    import pandas as pd

    return pd.DataFrame([dataclasses.asdict(r) for r in results],
                        columns=[f.name for f in dataclasses.fields(MetricResult)])  # fmt: skip
