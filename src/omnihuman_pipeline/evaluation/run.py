"""Evaluate trained model folders on test sets (paper §4.1, Tables 1-3): generate, then score against the real videos.

:func:`evaluate_models` is the one function behind ``kedro run --pipeline=evaluate`` and the ablation pipelines
(called once per variant with its own model folders and output folder). For every model, test set, drive and test
video it

1. decodes the real video at the model's bucket (25 fps, first ``max_seconds`` trimmed to 1 + 4k frames) and its
   audio track (``evaluation.media``; a validation clip without media from its span of the source video);
2. generates the same number of frames from the video's first frame, its own audio (and its keypoints for a
   pose-driven row) and its caption (the clips table's, else the curate captioner's), with the generate pipeline's
   function (``inference.run.generate_video``), into ``<out>/<test set>/<method>/<video id>.mp4``;
3. scores all generated videos of the row against their real ones with the metric suite (``metrics.suite``:
   per-video values and set values with bootstrap 95 % intervals over videos).

It adds a "Ref Img" row per test set (the reference images themselves, Table 1) and each model's per-task
validation flow-matching loss from its ``report.json`` (backend ``flow_matching_val``), which the ablation tables
report next to the metrics. A test video that cannot be read or generated gets status ``failed`` and its reason in
every table it would have entered; the others go on.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omnihuman_pipeline.datasets.model_folder import ModelFolder
from omnihuman_pipeline.evaluation.media import (
    VIDEO_FPS,
    Bucket,
    FileVideoItem,
    RealVideo,
    TestVideoError,
    read_real_video,
    video_frames,
)
from omnihuman_pipeline.evaluation.test_sets import EvaluationError, TestSet, TestVideo
from omnihuman_pipeline.inference.run import GenerateSettings, GenerationJob, replace_settings
from omnihuman_pipeline.metrics.base import MetricResult

logger = logging.getLogger(__name__)

REF_IMG = "Ref Img"
SPAN_INPUTS = "_span_inputs"  # <out>/<test set>/_span_inputs: reference PNG and audio WAV of clips read from spans
VAL_LOSS_SET = "validation_loss"
VAL_LOSS_BACKEND = "flow_matching_val"
REPORT_FILE = "report.json"
DEFAULT_DRIVE = "audio"  # the paper's tables are audio-driven; rows of other drives carry the drive in their name
METRIC_COLUMNS = ["test_set", "method", "model", "drive", "name", "value", "backend", "status", "reason", "n",
                  "n_videos", "ci_low", "ci_high"]
PER_VIDEO_COLUMNS = ["test_set", "method", "model", "drive", "video_id", "metric", "value", "backend", "status",
                     "reason", "n"]
GENERATED_COLUMNS = ["test_set", "method", "model", "drive", "video_id", "status", "reason", "media", "pose",
                     "conditions", "caption", "caption_backend", "frames", "width", "height", "seed", "steps",
                     "wall_s", "output"]


@dataclass(frozen=True)
class EvalSettings:
    """How an evaluation runs.

    Attributes:
        generate: sampling settings of the evaluation videos.
        metrics: the metric suite's config (``metrics``, ``device``, ``weights``, ``bootstrap``, ``options``).
        max_seconds: longest part of a test video compared (and generated), from its start.
        seed: noise seed of every generated video.
        strip_videos: test videos per test set shown in the strip plot.
        strip_frames: frames per video in the strip plot.
    """

    generate: GenerateSettings = field(default_factory=GenerateSettings)
    metrics: dict[str, Any] = field(default_factory=dict)
    max_seconds: float = 10.0
    seed: int = 0
    strip_videos: int = 4
    strip_frames: int = 4

    @classmethod
    def from_params(cls, run: Mapping[str, Any] | None, generate: Mapping[str, Any] | None,
                    metrics: Mapping[str, Any] | None) -> EvalSettings:
        """Build from ``evaluate_run`` (its ``generate`` overrides ``params:generate``), ``params:generate`` and
        the suite config ``params:evaluate``."""
        values = dict(run or {})
        overrides = dict(values.pop("generate", None) or {})
        known = {"max_seconds", "seed", "strip_videos", "strip_frames"}
        unknown = set(values) - known
        if unknown:
            raise EvaluationError(f"unknown evaluate_run settings {sorted(unknown)}; known: "
                                  f"{sorted(known | {'generate'})}")
        settings = cls(replace_settings(GenerateSettings.from_params(generate), **overrides), dict(metrics or {}),
                       **values)
        if settings.max_seconds <= 0:
            raise EvaluationError(f"evaluate_run.max_seconds must be > 0, got {settings.max_seconds}")
        return settings

    @property
    def max_frames(self) -> int:
        """Frame cap of a compared video (25 fps)."""
        return max(1, int(round(self.max_seconds * VIDEO_FPS)))


@dataclass(frozen=True)
class Strip:
    """Frames of one test video for the strip plot.

    Attributes:
        test_set: its test set.
        video_id: its id.
        reference: the reference image RGB uint8 [H, W, 3].
        real: the real video's frames [k, H, W, 3] at ``frame_index``.
        generated: method -> its generated frames [k, H, W, 3] at the same indices.
        frame_index: the frames shown.
    """

    test_set: str
    video_id: str
    reference: np.ndarray
    real: np.ndarray
    generated: dict[str, np.ndarray]
    frame_index: tuple[int, ...]


@dataclass
class EvalResult:
    """Everything an evaluation measured.

    Attributes:
        metrics: one row per test set x method x metric (``METRIC_COLUMNS``): value, backend, status, reason, videos
            that entered (``n``) of the test set's (``n_videos``), bootstrap 95 % interval.
        per_video: one row per test set x method x video x metric (``PER_VIDEO_COLUMNS``).
        generated: one row per test set x method x video (``GENERATED_COLUMNS``): status, reason, the mp4.
        strips: frames for the strip plot.
        test_set_labels: test set name -> heading, in evaluation order.
    """

    metrics: pd.DataFrame
    per_video: pd.DataFrame
    generated: pd.DataFrame
    strips: list[Strip] = field(default_factory=list)
    test_set_labels: dict[str, str] = field(default_factory=dict)


def merge_results(results: Sequence[EvalResult]) -> EvalResult:
    """One result of several (e.g. the variants of an ablation), rows in the given order."""
    labels: dict[str, str] = {}
    for r in results:
        labels.update(r.test_set_labels)
    return EvalResult(*(pd.concat([getattr(r, name) for r in results], ignore_index=True)
                        for name in ("metrics", "per_video", "generated")),  # fmt: skip
                      [s for r in results for s in r.strips], labels)


def method_label(model: str, drive: str) -> str:
    """A table row's name: the model for the default (audio) drive, else ``<model> (<drive>)``."""
    return model if drive == DEFAULT_DRIVE else f"{model} ({drive})"


def method_folder(model: str, drive: str) -> str:
    """The folder of a row's generated videos: the model, or ``<model>_<drive>`` for another drive."""
    return model if drive == DEFAULT_DRIVE else f"{model}_{drive}"


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------
def resolve_model_folders(root: str | Path, names: Sequence[str]) -> dict[str, ModelFolder]:
    """The model folders to evaluate, by name (folders under ``root``, ``data/06_models``; absolute paths as is).

    Raises:
        EvaluationError: no name, or a folder without a trained model (the message names the train pipeline).
    """
    from omnihuman_pipeline.models.export import CARD_FILE, WEIGHTS_FILE, ModelFolderError, read_model_card

    if not names:
        raise EvaluationError("no model to evaluate: list model folders in evaluate_methods (e.g. [stage3])")
    out = {}
    for name in names:
        path = Path(name) if Path(name).is_absolute() else Path(root) / name
        if not (path / CARD_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise EvaluationError(f"no trained model in {path} ({CARD_FILE} + {WEIGHTS_FILE}): run `kedro run "
                                  "--pipeline=train` first, or name existing model folders in evaluate_methods")
        try:
            out[Path(name).name] = ModelFolder(path, read_model_card(path))
        except ModelFolderError as err:
            raise EvaluationError(f"{path}: {err}; retrain it with `kedro run --pipeline=train`") from None
    return out


def validation_loss_results(folder: ModelFolder) -> list[MetricResult]:
    """The model's per-task validation flow-matching loss on training's fixed validation samples (``report.json``:
    ``val_loss.loss_<task>``), as results ``val_loss_<task>``; a task without one is ``unavailable``."""
    tasks = [c for c in folder.card.conditions if c != "image"]
    report_file = Path(folder.path) / REPORT_FILE
    report = json.loads(report_file.read_text()) if report_file.is_file() else None
    losses = (report or {}).get("val_loss") or {}
    n = int(((report or {}).get("clips") or {}).get("val", 0))
    out = []
    for task in tasks:
        value = losses.get(f"loss_{task}")
        if value is None or not math.isfinite(float(value)):
            why = (f"no {REPORT_FILE} in {folder.path}" if report is None
                   else f"{REPORT_FILE} has no val_loss.loss_{task}")
            out.append(MetricResult.not_ok(f"val_loss_{task}", VAL_LOSS_BACKEND, "unavailable", why))
        else:
            out.append(MetricResult(f"val_loss_{task}", float(value), VAL_LOSS_BACKEND, "ok", None, n))
    return out


def _load_checkpoint(folder: ModelFolder, settings: EvalSettings):
    from omnihuman_pipeline.inference.conditions import GenerationError
    from omnihuman_pipeline.inference.run import load_checkpoint

    try:
        return load_checkpoint(folder.path, settings.generate)
    except GenerationError as err:
        raise EvaluationError(f"{err}; retrain it with `kedro run --pipeline=train`") from None


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------
def _metric_rows(results: Sequence[MetricResult], test_set: str, method: str, model: str | None,
                 drive: str | None, n_videos: int) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        values = asdict(r)
        rows.append({"test_set": test_set, "method": method, "model": model, "drive": drive, **values,
                     "n_videos": n_videos})
    return rows


def _failed_video_rows(config: Mapping[str, Any], video_id: str, reason: str) -> list[dict[str, Any]]:
    """A failed video's row for every output of every configured metric (so no video silently disappears)."""
    from omnihuman_pipeline.metrics.suite import METRICS

    rows = []
    for key in config.get("metrics") or list(METRICS):
        cls = METRICS[key]
        rows += [{"video_id": video_id, "metric": name, "value": math.nan, "backend": cls.backend,
                  "status": "failed", "reason": reason, "n": 0} for name in cls.outputs]
    return rows


def _table_path(path: str | None) -> str | None:
    from omnihuman_pipeline.curation.config import table_path

    return None if path is None else table_path(str(path))


def _with_keys(frame: pd.DataFrame | list[dict], **keys: Any) -> pd.DataFrame:
    frame = pd.DataFrame(frame)
    for name, value in keys.items():
        frame[name] = value
    return frame


# --------------------------------------------------------------------------------------------------
# One row of the table: a model x test set x drive
# --------------------------------------------------------------------------------------------------
def _read_real(videos: Sequence[TestVideo], bucket: Bucket, max_frames: int) -> dict[str, RealVideo | str]:
    out: dict[str, RealVideo | str] = {}
    for video in videos:
        if video.error or not video.source:
            out[video.video_id] = video.error or "no_media"
            continue
        try:
            out[video.video_id] = read_real_video(video.source, bucket, max_frames)
        except TestVideoError as err:
            logger.warning("test video %s: %s", video.video_id, err)
            out[video.video_id] = str(err)
    return out


def _input_error(video: TestVideo, real: RealVideo | str, drive: str) -> str | None:
    from omnihuman_pipeline.inference.conditions import DRIVES

    if isinstance(real, str):
        return real
    if "audio" in DRIVES[drive] and real.audio is None:
        source = video.media or f"{video.span.source_path} (the clip's span)"
        return f"no_audio: {source} has no audio track (drive {drive!r} needs the video's own audio)"
    if "pose" in DRIVES[drive] and not video.pose:
        return f"no_pose: no keypoints for {video.video_id} (a <name>.pose.npz beside the video, or P-eligible clip)"
    return None


def span_inputs(video: TestVideo, real: RealVideo, folder: Path) -> tuple[str, str | None]:
    """Generation's reference image and driving audio of a test video read from a source span, as files the
    generate function reads: the first real frame as a PNG (at the bucket, lossless) and the real audio as a
    float WAV (16 kHz mono), under ``folder`` (None for the audio without a track)."""
    from PIL import Image
    from scipy.io import wavfile

    from omnihuman_pipeline.evaluation.media import AUDIO_SR

    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"{video.video_id}.png"
    Image.fromarray(real.reference).save(image)
    if real.audio is None:
        return str(image), None
    audio = folder / f"{video.video_id}.wav"
    wavfile.write(audio, AUDIO_SR, np.asarray(real.audio, np.float32))
    return str(image), str(audio)


def _generate(video: TestVideo, real: RealVideo, drive: str, checkpoint, settings: EvalSettings,
              caption: Mapping[str, Any] | None, out: Path) -> dict[str, Any]:
    from omnihuman_pipeline.inference.conditions import DRIVES
    from omnihuman_pipeline.inference.run import generate_video

    conditions = DRIVES[drive]
    image, audio = (video.media, video.media) if video.media else span_inputs(video, real, out.parent.parent / SPAN_INPUTS)
    job = GenerationJob(
        name=video.video_id, image=image, out=str(out), checkpoint=checkpoint.path, image_frame=0,
        audio=audio if "audio" in conditions else None, pose=video.pose if "pose" in conditions else None,
        text=video.caption, seconds=real.n_frames / VIDEO_FPS, seed=settings.seed, drive=drive)
    return generate_video(job, settings.generate, caption, checkpoint)


def evaluate_row(model: str, checkpoint, test_set: TestSet, drive: str, real: Mapping[str, RealVideo | str],
                 bucket: Bucket, settings: EvalSettings, caption: Mapping[str, Any] | None,
                 out_folder: Path) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """Generate and score one table row: one model on one test set with one drive.

    Returns:
        (metric rows, per-video rows, generated rows) with the test set / method / model / drive keys.
    """
    from omnihuman_pipeline.inference.conditions import GenerationError
    from omnihuman_pipeline.metrics.suite import evaluate
    from omnihuman_pipeline.weights import WeightsNotFoundError

    method = method_label(model, drive)
    keys = {"test_set": test_set.name, "method": method, "model": model, "drive": drive}
    items, generated, failed = [], [], []
    for video in test_set.videos:
        row = {**keys, "video_id": video.video_id, "media": _table_path(video.media), "pose": _table_path(video.pose),
               "caption": video.caption}
        reason = _input_error(video, real[video.video_id], drive)
        if reason is None:
            out = out_folder / test_set.name / method_folder(model, drive) / f"{video.video_id}.mp4"
            try:
                made = _generate(video, real[video.video_id], drive, checkpoint, settings, caption, out)
                row.update({k: made[k] for k in GENERATED_COLUMNS if k in made and k not in keys and k != "status"})
                row["output"] = _table_path(made["output"])
                items.append(FileVideoItem(video.video_id, made["output"], video.source, bucket,
                                           real[video.video_id].n_frames, real[video.video_id].audio,
                                           real[video.video_id].reference))
            except (GenerationError, WeightsNotFoundError) as err:
                reason = f"generation: {err}"
        if reason is not None:
            logger.warning("%s / %s / %s: %s", test_set.name, method, video.video_id, reason)
            failed += _failed_video_rows(settings.metrics, video.video_id, reason)
        generated.append({**row, "status": "ok" if reason is None else "failed", "reason": reason})
    per_video, results = evaluate(items, settings.metrics)
    per_video = _with_keys(pd.concat([per_video, pd.DataFrame(failed, columns=per_video.columns)],
                                     ignore_index=True), **keys)
    metrics = _metric_rows(results, test_set.name, method, model, drive, len(test_set.videos))
    return metrics, per_video, pd.DataFrame(generated)


def reference_image_row(test_set: TestSet, real: Mapping[str, RealVideo | str],
                        settings: EvalSettings) -> tuple[list[dict], pd.DataFrame]:
    """Table 1's "Ref Img" row: the image metrics of the test set's reference images (first frames at the bucket)."""
    from omnihuman_pipeline.metrics.suite import METRICS, REFERENCE_METRICS, evaluate_reference_images

    keys = {"test_set": test_set.name, "method": REF_IMG, "model": None, "drive": None}
    if not set(settings.metrics.get("metrics") or METRICS) & set(REFERENCE_METRICS):
        return [], pd.DataFrame(columns=PER_VIDEO_COLUMNS)  # the suite would take an empty list for "all metrics"
    images = {vid: r.reference for vid, r in real.items() if isinstance(r, RealVideo)}
    per_video, results = evaluate_reference_images(images, settings.metrics)
    return _metric_rows(results, test_set.name, REF_IMG, None, None, len(test_set.videos)), _with_keys(per_video,
                                                                                                       **keys)


def _strip_frames(frames: np.ndarray, k: int) -> tuple[np.ndarray, tuple[int, ...]]:
    from omnihuman_pipeline.scoring._frames import spread_indices

    idx = spread_indices(len(frames), k)
    return frames[idx].copy(), tuple(int(i) for i in idx)


def _collect_strips(strips: dict[tuple[str, str], Strip], test_set: TestSet, generated: pd.DataFrame,
                    real: Mapping[str, RealVideo | str], bucket: Bucket, settings: EvalSettings) -> None:
    shown = [v for v in test_set.videos if isinstance(real[v.video_id], RealVideo)][: settings.strip_videos]
    ok = generated[generated["status"] == "ok"].set_index("video_id")
    for video in shown:
        key, n = (test_set.name, video.video_id), real[video.video_id].n_frames
        if key not in strips:
            frames, idx = _strip_frames(video_frames(video.source, bucket, n), settings.strip_frames)
            strips[key] = Strip(test_set.name, video.video_id, real[video.video_id].reference, frames, {}, idx)
        if video.video_id in ok.index:
            method = str(generated["method"].iloc[0])
            frames = video_frames(str(ok.loc[video.video_id, "output"]), bucket, n)
            strips[key].generated[method] = frames[list(strips[key].frame_index)].copy()


# --------------------------------------------------------------------------------------------------
# Everything
# --------------------------------------------------------------------------------------------------
def evaluate_models(models: Mapping[str, ModelFolder], test_sets: Sequence[TestSet], settings: EvalSettings,
                    caption: Mapping[str, Any] | None, out_folder: str | Path) -> EvalResult:
    """Evaluate model folders on test sets: generate every test video with each model, score against the real ones.

    Args:
        models: method name -> model folder (``ModelFolder``: path + card), in table order.
        test_sets: the test sets (``evaluation.test_sets.resolve_test_sets``).
        settings: generation and metric settings.
        caption: the curate caption settings (``parameters_curate.yml: caption``), for test videos without a
            caption; None: the captioner's defaults.
        out_folder: where the generated videos go (``<out>/<test set>/<method>/<video id>.mp4``).

    Returns:
        The :class:`EvalResult`: metric rows (methods incl. "Ref Img" and the ``val_loss_<task>`` rows of set
        ``validation_loss``), per-video rows, generated-video rows and strip-plot frames.

    Raises:
        EvaluationError: no model or test set, or a model folder that cannot be loaded.
    """
    if not models or not test_sets:
        raise EvaluationError("evaluate_models needs at least one model and one test set")
    metrics: list[dict] = []
    per_video, generated = [], []
    strips: dict[tuple[str, str], Strip] = {}
    for i, (model, folder) in enumerate(models.items()):
        checkpoint = _load_checkpoint(folder, settings)
        video_cfg = checkpoint.encoders.config.video
        bucket = Bucket(int(video_cfg.short_side), int(video_cfg.multiple))
        for test_set in test_sets:
            real = _read_real(test_set.videos, bucket, settings.max_frames)
            if i == 0:
                ref_metrics, ref_rows = reference_image_row(test_set, real, settings)
                metrics += ref_metrics
                per_video.append(ref_rows)
            for drive in test_set.drives:
                row_metrics, row_videos, row_generated = evaluate_row(model, checkpoint, test_set, drive, real,
                                                                      bucket, settings, caption, Path(out_folder))
                metrics += row_metrics
                per_video.append(row_videos)
                generated.append(row_generated)
                _collect_strips(strips, test_set, row_generated, real, bucket, settings)
        losses = validation_loss_results(folder)
        metrics += _metric_rows(losses, VAL_LOSS_SET, model, model, None, max((r.n for r in losses), default=0))
        del checkpoint
    return EvalResult(pd.DataFrame(metrics, columns=METRIC_COLUMNS),
                      pd.concat(per_video, ignore_index=True).reindex(columns=PER_VIDEO_COLUMNS),
                      pd.concat(generated, ignore_index=True).reindex(columns=GENERATED_COLUMNS),
                      list(strips.values()), {t.name: t.label for t in test_sets})
