"""Train one stage end to end: model from the features, hand-off, Lightning fit, report, export.

The Kedro node (``pipelines/train``) and the module entry (``python -m omnihuman_pipeline.training``,
what ``torchrun`` / SLURM launch for many GPUs or nodes) both call :func:`train_stage`.

Resume: the stage's run folder keeps ``last.ckpt`` and ``run.json`` (a fingerprint of everything
the run depends on: settings, features, the weights it started from). A rerun with the same
fingerprint resumes from ``last.ckpt`` (weights, optimizer, LR schedule, EMA, data position, task
counts); a finished stage resumes at its last step and only re-exports. Another fingerprint, or
``train.overwrite: true``, starts the stage over.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch

from omnihuman_pipeline import weights
from omnihuman_pipeline.datasets.model_folder import ModelFolder, RunFolder, TrainedModel
from omnihuman_pipeline.features.config import stable_hash
from omnihuman_pipeline.features.shards import FeatureStore
from omnihuman_pipeline.models import LoadReport, ModelCard, OmniHumanConfig, load_pretrained_t2v
from omnihuman_pipeline.models.export import WEIGHTS_FILE, non_finite_tensors, read_weights
from omnihuman_pipeline.models.registry import build_model
from omnihuman_pipeline.models.wan import read_diffusers_config, read_diffusers_weights, wan_omni_config
from omnihuman_pipeline.training.audio_stats import standardise_audio
from omnihuman_pipeline.training.config import StageSettings, TrainSettings
from omnihuman_pipeline.training.data import (
    OmniDataModule,
    TrainingDataError,
    audio_shape,
    num_motion_latents,
    stale_features,
)
from omnihuman_pipeline.training.ema import EMA
from omnihuman_pipeline.training.finetune import apply_lora, build_strategy, export_state
from omnihuman_pipeline.training.module import TASKS, NonFiniteLossError, OmniHumanModule, warmup_lambda

logger = logging.getLogger(__name__)

LAST_CKPT, RUN_FILE = "last.ckpt", "run.json"


class TrainingSetupError(ValueError):
    """The stage cannot start as configured (weights that do not fit, a launch that cannot work, …)."""


@dataclass
class StageOutcome:
    """What a stage returns: the model for its folder (None on non-zero ranks) and its report."""

    model: TrainedModel | None
    report: dict[str, Any]


# --------------------------------------------------------------------------------------------------
# The model from the features
# --------------------------------------------------------------------------------------------------
def feature_dims(index: pd.DataFrame) -> dict[str, int]:
    """Channels the features impose on the model: latent channels, text width, audio layers and width."""
    ok = index[index["status"] == "ok"]
    dims = {}
    for field, column in (("in_channels", "latent_channels"), ("text_dim", "text_dim")):
        values = sorted(set(ok[column].dropna().astype(int)))
        if len(values) != 1:
            raise TrainingDataError(f"features.parquet has {column} values {values}; one feature config per index")
        dims[field] = values[0]
    try:
        dims["audio_layers"], dims["audio_dim"] = audio_shape(ok)
    except TrainingDataError:
        pass  # no audio anywhere: only matters to stages that train audio (checked with the data)
    return dims


def feature_backends(index: pd.DataFrame) -> dict[str, str]:
    """Backend per feature kind of the index's clips (one per kind; kinds a clip lacks are None there)."""
    seen: dict[str, set[str]] = {}
    for backends in index.loc[index["status"] == "ok", "backends"]:
        for kind, name in json.loads(backends).items():
            if name is not None:
                seen.setdefault(kind, set()).add(name)
    mixed = {k: sorted(v) for k, v in seen.items() if len(v) > 1}
    if mixed:
        raise TrainingDataError(f"the features index mixes backends {mixed}; re-run the features pipeline")
    return {k: v.pop() for k, v in sorted(seen.items())}


# OmniHuman's own modules on a pretrained backbone, sized by the preset (the backbone sizes the rest).
CONDITION_FIELDS = ("audio_hidden", "audio_window", "audio_time_code", "pose_channels", "pose_window", "pose_guider_widths")


def model_config(index: pd.DataFrame, settings: TrainSettings, stage: StageSettings,
                 backbone_config: Mapping[str, Any] | None = None) -> OmniHumanConfig:
    """The stage's architecture: the preset's size (or the backbone's), channels from the features, branches
    from the stage."""
    dims = feature_dims(index)
    branches = {"with_audio": "audio" in stage.conditions, "with_pose": "pose" in stage.conditions}
    if settings.model.backbone == "native":
        return OmniHumanConfig.from_preset(settings.model.preset, **{**settings.model.overrides, **dims, **branches})
    preset = OmniHumanConfig.from_preset(settings.model.preset)
    conditions = {name: getattr(preset, name) for name in CONDITION_FIELDS}
    try:
        return wan_omni_config(backbone_config or {}, **{**conditions, **settings.model.overrides, **dims, **branches})
    except ValueError as err:
        raise TrainingSetupError(str(err)) from None


def backbone_folder(settings: TrainSettings) -> Path | None:
    """The pretrained backbone's diffusers folder (``train.model.backbone_weights``), None for ``native``."""
    if settings.model.backbone == "native":
        return None
    key = settings.model.backbone_weights
    try:
        return weights.resolve(key)
    except weights.WeightsNotFoundError as err:
        raise TrainingSetupError(f"train.model.backbone is {settings.model.backbone}: {err}") from None


def scheduler_flow_shift(backbone: Path | None) -> float | None:
    """``flow_shift`` of the backbone checkpoint's scheduler (``<checkpoint>/scheduler/scheduler_config.json``)."""
    if backbone is None:
        return None
    file = Path(backbone).parent / "scheduler" / "scheduler_config.json"
    if not file.is_file():
        return None
    value = json.loads(file.read_text()).get("flow_shift")
    return None if value is None else float(value)


def check_flow_shift(settings: TrainSettings, backbone: Path | None) -> None:
    """Warn when training's time shift differs from the one the backbone was trained and is sampled with."""
    theirs = scheduler_flow_shift(backbone)
    if theirs is not None and abs(theirs - settings.flow.shift) > 1e-6:
        logger.warning("train.flow.shift is %s but the backbone's scheduler uses flow_shift %s (%s): fine-tuning "
                       "then samples other noise levels than the backbone knows; generation uses train.flow.shift",
                       settings.flow.shift, theirs, Path(backbone).parent / "scheduler")


def backbone_config_for(settings: TrainSettings, init: ModelFolder | Path | None,
                        folder: Path | None) -> dict[str, Any] | None:
    """The backbone's own config: the previous stage's (hand-off) or ``config.json`` of its ``folder``."""
    if settings.model.backbone == "native":
        return None
    if isinstance(init, ModelFolder) and init.card.config.backbone_config:
        return dict(init.card.config.backbone_config)
    try:
        return read_diffusers_config(folder or backbone_folder(settings))
    except (FileNotFoundError, ValueError) as err:
        raise TrainingSetupError(str(err)) from None


# --------------------------------------------------------------------------------------------------
# Hand-off
# --------------------------------------------------------------------------------------------------
SIZE_FIELDS = ("backbone", "hidden_size", "num_layers", "num_heads", "patch_size", "mlp_ratio", "rope_axes_dim",
               "audio_hidden", "audio_window", "audio_time_code")  # audio fields only when both stages have audio
FEATURE_FIELDS = ("in_channels", "text_dim", "audio_layers", "audio_dim")


def check_handoff(previous: ModelCard, config: OmniHumanConfig, backends: Mapping[str, str], source: str,
                  prediction: str = "velocity") -> None:
    """The previous weights fit the new stage: same size, feature channels, backends and prediction target."""
    for names, what in ((SIZE_FIELDS, "train.model"), (FEATURE_FIELDS, "the features")):
        diff = {n: (getattr(previous.config, n), getattr(config, n)) for n in names
                if getattr(previous.config, n) != getattr(config, n)
                and not (n.startswith("audio") and not (previous.config.with_audio and config.with_audio))}
        if diff:
            detail = ", ".join(f"{n}: {a} in {source} vs {b} from {what}" for n, (a, b) in diff.items())
            raise TrainingSetupError(f"{source} does not fit this stage ({detail})")
    mismatch = {k: (previous.feature_backends.get(k), v) for k, v in backends.items()
                if previous.feature_backends.get(k) not in (None, v)}
    if mismatch:
        detail = ", ".join(f"{k}: {a} in {source} vs {b} in features.parquet" for k, (a, b) in mismatch.items())
        raise TrainingSetupError(f"{source} was trained on other features ({detail})")
    before = previous.flow.get("prediction", "velocity")  # a velocity net is not an x0 net
    if before != prediction:
        raise TrainingSetupError(
            f"{source} predicts {before!r} but train.flow.prediction is {prediction!r}: train every stage with one "
            "target (or start stage 1 over)")


def initialise(net: torch.nn.Module, stage: StageSettings, init: ModelFolder | Path | None,
               backends: Mapping[str, str], prediction: str = "velocity",
               backbone: Path | None = None) -> dict[str, Any]:
    """Load the stage's starting weights into ``net`` and say what was loaded and what is new.

    ``backbone`` is the pretrained backbone's diffusers folder (``wan``), loaded when stage 1 starts
    ``pretrained``; ``init`` is the previous stage's folder or, for the native backbone, a T2V state dict.
    """
    from safetensors.torch import load_file

    if isinstance(init, ModelFolder):
        check_handoff(init.card, net.config, backends, str(init.path), prediction)
        report = load_pretrained_t2v(net, read_weights(init.path / WEIGHTS_FILE))
        return _handoff(str(init.path), f"stage {init.card.stage}", report)
    if stage.init in ("pretrained", "t2v") and backbone is not None:
        if prediction != "velocity":
            raise TrainingSetupError(f"the {net.config.backbone} backbone predicts the velocity: set "
                                     f"train.flow.prediction: velocity (got {prediction!r})")
        report = load_pretrained_t2v(net, read_diffusers_weights(backbone), key_map=lambda k: f"backbone.{k}")
        if not report.loaded or report.skipped:
            raise TrainingSetupError(f"{backbone}: the weights do not fit the {net.config.backbone} backbone built "
                                     f"from its config.json ({report.summary()}; skipped {list(report.skipped)[:3]})")
        return _handoff(str(backbone), f"{net.config.backbone} text-to-video backbone", report)
    if stage.init in ("pretrained", "t2v"):
        if init is None:
            raise TrainingSetupError(
                f"{stage.name}.init is {stage.init} but no text-to-video checkpoint is configured: set mmdit_t2v in "
                "conf/local/weights.yml or OMNIHUMAN_WEIGHTS_MMDIT_T2V, or use init: scratch")
        state = load_file(str(init)) if str(init).endswith(".safetensors") else torch.load(
            init, map_location="cpu", weights_only=True)
        report = load_pretrained_t2v(net, state.get("state_dict", state) if isinstance(state, dict) else state)
        if not report.loaded:
            raise TrainingSetupError(f"{init}: no tensor matches the OmniHuman MMDiT ({report.summary()})")
        return _handoff(str(init), "text-to-video checkpoint", report)
    if stage.init == "previous":
        raise TrainingSetupError(f"{stage.name} starts from the previous stage, but no model folder was given")
    return _handoff("scratch", "fresh initialisation", LoadReport(newly_initialized=list(net.state_dict())))


def _handoff(source: str, kind: str, report: LoadReport) -> dict[str, Any]:
    return {"source": source, "kind": kind, "summary": report.summary(), **asdict(report)}


# --------------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------------
def resolve_precision(settings: TrainSettings) -> str:
    """``auto``: bf16-mixed on a GPU, 32-true on CPU."""
    precision = settings.trainer.precision
    if precision != "auto":
        return precision
    gpu = settings.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if gpu else "32-true"


def check_launch(settings: TrainSettings, launcher: str) -> None:
    """Many processes come from torchrun / SLURM or the module entry, never from inside ``kedro run``."""
    t = settings.trainer
    many = (t.num_nodes > 1 or str(t.devices).isdigit() and int(t.devices) > 1
            or str(t.strategy).startswith(("ddp", "fsdp")))  # Lightning would re-launch `kedro run` per rank
    if launcher == "kedro" and many and "WORLD_SIZE" not in os.environ:
        raise TrainingSetupError(
            "multi-process training is launched outside kedro run: torchrun --nproc_per_node <gpus> "
            "-m omnihuman_pipeline.training --stage <name> --env <profile> (see README, Scaling out)")
    if t.strategy.startswith("fsdp") and settings.ema.decay > 0:
        raise TrainingSetupError("the EMA keeps an unsharded copy of the weights: use strategy ddp, or set "
                                 "train.ema.decay: 0 with fsdp")


SYNCING_CALLERS = frozenset({"update_train_step_metrics", "update_train_epoch_metrics", "log_eval_end_metrics"})


def called_from(names: frozenset[str]) -> bool:
    """Whether a function named in ``names`` is on the call stack (frame names only, no source read)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in names:
            return True
        frame = frame.f_back
    return False


def _step_logger_class():
    from dvclive.fabric import DVCLiveLogger as FabricDVCLiveLogger
    from dvclive.lightning import DVCLiveLogger
    from lightning.pytorch.utilities import rank_zero_only

    class _StepLogger(DVCLiveLogger):
        """DVCLive's Lightning logger, keeping Lightning's step 0 (DVCLive reads a falsy step as "next").

        DVCLive syncs (writes its summary) only when Lightning's logger connector is the caller, and
        finds out with ``inspect.stack()``, which reads the source of every frame: ~20 ms a call, one
        call per logging step from the loop and one from the LR monitor. The same test by frame names
        costs microseconds.
        """

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, sync: bool | None = False) -> None:
            if step == 0:
                self.experiment.step = -1  # DVCLive adds one when the step is falsy
            FabricDVCLiveLogger.log_metrics(self, metrics, step, bool(sync) or called_from(SYNCING_CALLERS))

    return _StepLogger


def StepLogger(**kwargs: Any):  # noqa: N802 - builds the class lazily so dvclive is imported only when training
    """A DVCLive logger for Lightning that records metrics at Lightning's own steps (step 0 included)."""
    return _step_logger_class()(**kwargs)


def repair_live_dir(log_dir: Path) -> list[str]:
    """Undo what a kill in the middle of a DVCLive write leaves: its summary and params files are rewritten in place,
    so a truncated one is removed (DVCLive writes it anew at the next logging step) and a metrics table's
    unfinished last row is cut. Returns what was repaired."""
    import yaml

    repaired = []
    for name, load in (("metrics.json", json.loads), ("params.yaml", yaml.safe_load)):
        path = Path(log_dir) / name
        if path.is_file():
            try:
                load(path.read_text())
            except (ValueError, yaml.YAMLError):
                path.unlink()
                repaired.append(name)
    for table in sorted((Path(log_dir) / "plots" / "metrics").rglob("*.tsv")):
        data = table.read_bytes()
        if data and not data.endswith(b"\n"):
            table.write_bytes(data[: data.rfind(b"\n") + 1])
            repaired.append(str(table.relative_to(log_dir)))
    if repaired:
        logger.warning("%s: repaired what an interrupted run left half-written: %s", log_dir, ", ".join(repaired))
    return repaired


def build_trainer(settings: TrainSettings, run: RunFolder, max_steps: int, resume: bool,
                  extra: list[Any] | None = None, net: torch.nn.Module | None = None) -> L.Trainer:
    """The Lightning trainer with checkpoints, EMA, DVCLive and a progress bar."""
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar

    t = settings.trainer
    callbacks: list[Any] = [
        ModelCheckpoint(dirpath=run.path, filename="step{step:08d}", save_last=True, save_top_k=0,
                        every_n_train_steps=t.checkpoint_every_n_steps, auto_insert_metric_name=False),
        LearningRateMonitor(logging_interval="step"),
    ]
    if settings.ema.decay > 0:
        callbacks.append(EMA(settings.ema.decay, settings.ema.warmup))
    if t.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, t.log_every_n_steps)))
    callbacks += list(extra or [])
    if resume:
        repair_live_dir(run.log_dir)
    live = StepLogger(dir=str(run.log_dir), save_dvc_exp=False, dvcyaml=False, resume=resume, report=None)
    return L.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=build_strategy(t.strategy, net, settings.model.gradient_checkpointing) if net is not None else t.strategy,
        precision=resolve_precision(settings), max_steps=max_steps, gradient_clip_val=settings.optimizer.grad_clip or None,
        logger=live, callbacks=callbacks, enable_progress_bar=t.progress_bar, enable_model_summary=False,
        log_every_n_steps=t.log_every_n_steps, deterministic=t.deterministic, use_distributed_sampler=False,
        check_val_every_n_epoch=None, num_sanity_val_steps=0,
        default_root_dir=str(run.path),
    )


def accumulation(global_batch: int, micro_batch: int, world_size: int) -> int:
    """Micro-batches per optimizer step so that ``micro × world × accumulation`` reaches the global batch."""
    per_step = micro_batch * world_size
    accumulate = max(1, math.ceil(global_batch / per_step))
    if accumulate * per_step != global_batch:
        logger.warning("global batch %d is not a multiple of %d (micro-batch × devices): using %d",
                       global_batch, per_step, accumulate * per_step)
    return accumulate


def run_fingerprint(settings: TrainSettings, stage: StageSettings, index: pd.DataFrame, init: Any) -> str:
    """Hash of what the run depends on (not how it is executed)."""
    executed = {"trainer": {"progress_bar", "devices", "num_nodes", "strategy", "accelerator", "log_every_n_steps",
                            "val_every_n_steps", "checkpoint_every_n_steps"},
                "data": {"num_workers"}}
    values = settings.to_dict()
    for group, keys in executed.items():
        values[group] = {k: v for k, v in values[group].items() if k not in keys}
    values.pop("overwrite")
    ratios = asdict(stage.effective_ratios(settings))
    values["ratios"] = {c: ratios[c] for c in stage.conditions}  # another stage's ratio changes nothing here
    stage_values = {k: v for k, v in asdict(stage).items() if k != "ratios"}
    ok = index[index["status"] == "ok"]
    source = (init.card.training.get("fingerprint", str(init.path)) if isinstance(init, ModelFolder)
              else str(init) if init else None)
    return stable_hash({"settings": values, "stage": stage_values, "init": source,
                        "features": sorted(zip(ok["clip_id"], ok["config_hash"], strict=True))}, length=16)


def resume_checkpoint(run: RunFolder, fingerprint: str, overwrite: bool) -> Path | None:
    """``last.ckpt`` when it belongs to this exact run and overwrite is off, else None (read-only)."""
    last, record = run.path / LAST_CKPT, run.path / RUN_FILE
    previous = json.loads(record.read_text()).get("fingerprint") if record.is_file() else None
    return last if last.is_file() and not overwrite and previous == fingerprint else None


def start_over(run: RunFolder, fingerprint: str) -> None:
    """Clear the stage's checkpoints and logs and record the new run's fingerprint (rank 0 only)."""
    if (run.path / LAST_CKPT).is_file():
        logger.warning("%s: settings, features or start weights changed (or overwrite is set): starting over",
                       run.path)
    for old in [*run.path.glob("*.ckpt"), run.log_dir]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    run.log_dir.mkdir(parents=True, exist_ok=True)
    tmp = run.path / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps({"fingerprint": fingerprint}))
    tmp.replace(run.path / RUN_FILE)


# --------------------------------------------------------------------------------------------------
# One stage
# --------------------------------------------------------------------------------------------------
def train_stage(index: pd.DataFrame, store: FeatureStore, run: RunFolder, init: ModelFolder | Path | None,
                train: Mapping[str, Any], stage: Mapping[str, Any], *, name: str,
                features: Mapping[str, Any] | None = None, clips: pd.DataFrame | None = None,
                launcher: str | None = None, callbacks: list[Any] | None = None) -> StageOutcome:
    """Train a stage and return its exported model and report.

    Args:
        index: the features index.
        store: the feature shards.
        run: the stage's checkpoint and log folders.
        init: the previous stage's model folder, a text-to-video checkpoint file, or None.
        train: the shared ``train`` parameters.
        stage: this stage's parameters.
        name: the stage's name (``stage1`` …).
        features: the features parameters (recorded in the model card).
        clips: the curate clips table (names the rules that excluded clips in errors).
        launcher: ``kedro`` or ``module`` (only the module entry may start several processes itself); None
            reads ``OMNIHUMAN_LAUNCHER`` (set by the module entry), else ``kedro``.
        callbacks: extra Lightning callbacks (timers, custom loggers).

    Returns:
        The model (None on ranks other than 0) and the report (``report.json``).
    """
    t0 = time.perf_counter()
    spec = StageSettings.from_params(name, dict(stage))
    settings = spec.effective_settings(TrainSettings.from_params(dict(train)))
    check_launch(settings, launcher or os.environ.get("OMNIHUMAN_LAUNCHER", "kedro"))
    backbone = None if isinstance(init, ModelFolder) else backbone_folder(settings)  # wan: its folder
    config = model_config(index, settings, spec, backbone_config_for(settings, init, backbone))
    backends = feature_backends(index)
    fingerprint = run_fingerprint(settings, spec, index, backbone if backbone is not None else init)
    check_flow_shift(settings, backbone)

    stale = stale_features(index, clips)
    if any(stale.values()):
        logger.warning("%s: the features are older than the clip table (%d eligible clips without features, %d "
                       "cached clips gone, %d with other eligibility): run `kedro run --pipeline=features` to "
                       "train on the current clips", name, stale["missing"], stale["gone"], stale["changed"])
    L.seed_everything(settings.data.seed, workers=True, verbose=False)
    net = build_model(config, backend=settings.model.attention_backend)
    handoff = initialise(net, spec, init, backends, settings.flow.prediction, backbone)
    m = settings.model
    lora = apply_lora(net, m.lora_rank, m.lora_alpha, m.lora_targets, m.lora_dropout) if m.lora_rank else None
    o = settings.optimizer
    module = OmniHumanModule(
        net, optimizer=partial(torch.optim.AdamW, lr=o.lr, weight_decay=o.weight_decay, betas=o.betas, eps=o.eps),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, warmup_lambda(o.warmup_steps)),
        # under FSDP the strategy checkpoints each block (build_strategy); the net's own recompute would double it
        gradient_checkpointing=settings.model.gradient_checkpointing and settings.trainer.strategy != "fsdp",
        prediction=settings.flow.prediction,
        min_sigma=settings.flow.min_sigma, loss_space=settings.flow.loss_space)

    # every rank reads the same decision off the shared folder before rank 0 changes it
    resume = resume_checkpoint(run, fingerprint, settings.overwrite)
    if resume is None and _is_rank_zero():
        start_over(run, fingerprint)
    trainer = build_trainer(settings, run, spec.max_steps, resume=resume is not None, extra=callbacks, net=net)
    accumulate = accumulation(o.global_batch_size, settings.data.batch_size, trainer.world_size)
    datamodule = OmniDataModule(
        index, store, conditions=spec.conditions, ratios=spec.effective_ratios(settings),
        t_only_fraction=spec.t_only_fraction, data=settings.data, flow=asdict(settings.flow),
        with_audio=config.with_audio, with_pose=config.with_pose, total_micro_batches=spec.max_steps * accumulate,
        clips=clips)
    datamodule.trainer = trainer
    datamodule.setup("fit")
    # accumulation and the validation interval (in micro-batches) depend on the world size the trainer found
    trainer.accumulate_grad_batches = accumulate
    every = settings.trainer.val_every_n_steps
    trainer.val_check_interval = (every * accumulate) if every else spec.max_steps * accumulate + 1
    if not datamodule.val_plans:
        trainer.limit_val_batches = 0
    audio_stats = None
    if resume is None and config.with_audio:  # a resumed run restores the statistics with the weights
        audio_stats = standardise_audio(net, handoff["newly_initialized"], datamodule.features,
                                        datamodule.all_train_clips, settings.data.seed)

    if resume is None and datamodule.val_plans:
        module.initial_val = _val_losses(trainer.validate(module, datamodule=datamodule, verbose=False))
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    for callback in trainer.callbacks:
        if isinstance(callback, EMA):
            callback.copy_to(module)
    final_val = _val_losses(trainer.validate(module, datamodule=datamodule, verbose=False)) \
        if datamodule.val_plans else {}
    samples = module.samples_seen()
    ranks = _gather({"rank": trainer.global_rank, "train_shards": datamodule.train_shards,
                     "weights_sha": weights_checksum(module.net)})
    skipped = {**datamodule.skipped, **{c: "unreadable tensors" for c in module.gathered_skipped()}}
    report = {
        "stage": spec.name, "index": spec.index, "conditions": list(spec.card_conditions()),
        "ratios": asdict(spec.effective_ratios(settings)), "t_only_fraction": spec.t_only_fraction,
        "steps": int(trainer.global_step), "max_steps": spec.max_steps, "resumed": resume is not None,
        "global_batch_size": accumulate * settings.data.batch_size * trainer.world_size,
        "micro_batch_size": settings.data.batch_size, "accumulate": accumulate, "world_size": trainer.world_size,
        "samples_seen": samples, "ranks": ranks,
        "weights_in_sync": len({r["weights_sha"] for r in ranks}) == 1, "clips": {"train": len(datamodule.train_clips), "val": len(datamodule.val_clips),
                                           "skipped": skipped, "mix_rank0": datamodule.mix},
        "val_loss_start": module.initial_val, "val_loss": final_val,
        "train_loss_recent": module.recent_losses(), "handoff": handoff["summary"],
        "audio_standardisation": audio_stats,
        "model": {"preset": settings.model.preset, "backbone": config.backbone,
                  "parameters": sum(p.numel() for p in net.parameters()),
                  "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad), "lora": lora},
        "precision": resolve_precision(settings), "wall_s": round(time.perf_counter() - t0, 2),
        "fingerprint": fingerprint, "stale_features": stale,
    }
    if not trainer.is_global_zero:
        return StageOutcome(None, report)
    card = ModelCard(config, spec.index, spec.card_conditions(), features=dict(features or {}),
                     feature_backends=backends, flow=asdict(settings.flow),
                     training={"fingerprint": fingerprint, "stage": spec.name, "steps": report["steps"],
                               "samples_seen": samples, "init": handoff["source"], "lora": lora,
                               "weights": "merged LoRA" if lora else "full",
                               "window_latent_frames": settings.data.window_latent_frames,
                               "motion_latent_frames": num_motion_latents(settings.data.window_latent_frames)})
    state = export_state(module.net)  # LoRA adapters merged: one self-contained file (training/finetune.py)
    bad = non_finite_tensors(state)
    if bad:  # never export what generation would turn into black frames
        raise NonFiniteLossError(f"{spec.name}: {len(bad)} weight tensors are non-finite after training (e.g. {bad[0]}); "
                                 "nothing was exported. Lower train.optimizer.lr or check the features")
    logger.info("%s: %d steps, samples per task %s, val loss %s", spec.name, report["steps"], samples, final_val)
    return StageOutcome(TrainedModel(state, card, handoff), report)


def _val_losses(results: list[dict[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in results:
        merged.update({k.removeprefix("val/"): round(float(v), 6) for k, v in part.items() if k.startswith("val/")})
    return merged


def weights_checksum(net: torch.nn.Module) -> str:
    """Blake2b of every parameter's bytes (ranks of a DDP run must agree)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=8)
    for name, value in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _gather(value: dict[str, Any]) -> list[dict[str, Any]]:
    """``value`` of every rank (a collective under torch.distributed, else just this one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        everyone: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(everyone, value)
        return everyone
    return [value]


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) == 0


__all__ = ["StageOutcome", "TASKS", "TrainingSetupError", "train_stage"]
