"""The LightningModule of omni-conditions training: one flow-matching step shared by train and val.

The network is built outside and injected (lightning-hydra-template style), with an optimizer
factory and an optional scheduler factory. Losses are logged in total and per task, the task of a
sample being its strongest active condition (``image`` = no driving condition, the CFG null;
``text``; ``audio``; ``pose``). The samples seen per task are part of the checkpoint.

The total loss is logged every step (progress bar, resume checks). A task's loss is its mean over
the samples of that task since the last logging step (``trainer.log_every_n_steps``), sent to the
loggers at that step only when the interval had such samples: the sums stay on the device between
logging steps, so bookkeeping costs no host sync and no per-step ``self.log``.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from omnihuman_pipeline.training.conditions import TASKS
from omnihuman_pipeline.training.data import expand_batch
from omnihuman_pipeline.training.flow_matching import add_noise, flow_loss, to_velocity, velocity_target

RECENT_STEPS = 50  # micro-batches averaged in the report's recent training losses


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite: the stage stops before the optimizer spreads it to the weights."""


def model_inputs(net: nn.Module, batch: dict[str, Any], noisy: Tensor) -> dict[str, Any]:
    """The network's keyword arguments for a collated batch (conditions the net lacks are left out)."""
    config = net.config
    inputs: dict[str, Any] = {
        "noisy_latents": noisy, "timestep": batch["sigma"], "text_emb": batch["text"],
        "text_mask": batch["text_mask"], "text_on": batch["text_on"], "ref_latents": batch["ref_latents"],
        "motion_latents": batch.get("motion_latents"),
    }
    if config.with_audio and "audio" in batch:
        inputs["audio_feats"], inputs["audio_on"] = batch["audio"], batch["audio_on"]
    if config.with_pose and "pose" in batch:
        inputs["pose_maps"] = batch["pose"].float() / 127.5 - 1.0  # uint8 skeleton RGB -> [-1, 1]
        inputs["pose_on"] = batch["pose_on"]
    return inputs


class OmniHumanModule(L.LightningModule):
    """Flow-matching training of an :class:`~omnihuman_pipeline.models.OmniHumanTransformer`.

    Args:
        net: the network.
        optimizer: ``params -> Optimizer``.
        scheduler: ``optimizer -> LRScheduler`` stepped every optimizer step, or None.
        gradient_checkpointing: recompute blocks in the backward pass.
        prediction: the network's output, ``velocity`` or ``x0`` (``flow_matching.to_velocity``); the loss
            is on the velocity either way.
        min_sigma: lower sigma clamp of the x0 -> velocity conversion.
        loss_space: ``velocity`` or ``x0`` (training losses times ``max(sigma, min_sigma)^2``; validation
            stays in velocity space).
    """

    def __init__(self, net: nn.Module, optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
                 scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
                 gradient_checkpointing: bool = False, prediction: str = "velocity",
                 min_sigma: float = 0.05, loss_space: str = "velocity") -> None:
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.prediction, self.min_sigma, self.loss_space = prediction, min_sigma, loss_space
        self.net = net
        self.net.enable_gradient_checkpointing(gradient_checkpointing)
        self._optimizer, self._scheduler = optimizer, scheduler
        self.task_counts = torch.zeros(len(TASKS), dtype=torch.long)  # this rank's samples per task
        self.skipped_clips: set[str] = set()
        self.initial_val: dict[str, float] = {}
        self._recent: dict[str, deque[Tensor | float]] = defaultdict(lambda: deque(maxlen=RECENT_STEPS))
        self._interval_sum: Tensor | None = None  # per-task loss sums since the last logging step [len(TASKS)]
        self._interval_n = [0] * len(TASKS)

    def forward(self, **inputs: Any) -> Tensor:
        return self.net(**inputs)

    def model_step(self, batch: dict[str, Any], weighted: bool = False) -> Tensor:
        """Per-sample flow-matching losses [B] of a batch (sigma comes with the batch; the noise too, or its seeds).

        The data module expands compact batches on the device (``on_after_batch_transfer``); a compact
        batch from a plain DataLoader is expanded here.
        """
        batch = expand_batch(batch)
        x0, noise = batch["latents"], batch["noise"]
        noisy = add_noise(x0, noise, batch["sigma"])
        out = self.net(**model_inputs(self.net, batch, noisy))
        pred = to_velocity(out, noisy, batch["sigma"], self.prediction, self.min_sigma)
        weight = batch.get("loss_weight") if weighted else None  # training only: validation stays uniform
        losses = flow_loss(pred, velocity_target(x0, noise), weight=weight)
        if weighted and self.loss_space == "x0":  # the clean-latent error: sigma^2 |v_hat - v|^2 = |x0_hat - x0|^2
            losses = losses * batch["sigma"].to(losses.device, losses.dtype).clamp_min(self.min_sigma).pow(2)
        return losses

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        losses = self.model_step(batch, weighted=True)
        loss = losses.mean()
        # one host read a step: a non-finite loss would reach every weight through the optimizer step, and the
        # stage would go on to export NaN weights with exit code 0
        if not bool(torch.isfinite(loss)):
            values = losses.detach().float().tolist()
            bad = [c for c, v in zip(batch.get("clip_id", []), values, strict=False) if not math.isfinite(v)]
            raise NonFiniteLossError(
                f"training loss is {float(loss.detach())} at step {self.global_step} (micro-batch {batch_idx}); clips of the "
                f"batch: {list(batch.get('clip_id', []))}, non-finite: {bad or 'all'}. Check these clips' features "
                "(a damaged shard, or re-run the features pipeline) or lower train.optimizer.lr")
        self.log("train/loss", loss, prog_bar=True, batch_size=len(losses))
        self._track_tasks(losses.detach(), batch)
        self._recent["total"].append(loss.detach())
        self.skipped_clips.update(batch.get("skipped", []))
        return loss

    def _track_tasks(self, losses: Tensor, batch: dict[str, Any]) -> None:
        """Add a micro-batch's per-task loss sums to the logging interval and its task means to the recent ones."""
        tasks = [TASKS.index(t) for t in batch["task"]]
        index = batch.get("task_index")
        index = torch.tensor(tasks, device=losses.device) if index is None else index
        sums = torch.zeros(len(TASKS), device=losses.device).index_add_(0, index, losses.float())
        self._interval_sum = sums if self._interval_sum is None else self._interval_sum.to(sums.device).add_(sums)
        for k in sorted(set(tasks)):
            n = tasks.count(k)
            self.task_counts[k] += n
            self._interval_n[k] += n
            self._recent[TASKS[k]].append(sums[k] / n)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        every = self.trainer.log_every_n_steps
        if self._interval_sum is None or not every or (self.trainer.global_step + 1) % every:
            return
        # straight to the loggers at Lightning's step: self.log would re-send a task's last value at later
        # logging steps whose interval had no sample of that task
        sums = self._interval_sum.tolist()
        metrics = {f"train/loss_{task}": sums[k] / n for k, (task, n) in enumerate(zip(TASKS, self._interval_n,
                                                                                        strict=True)) if n}
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.trainer.global_step)
        self._interval_sum, self._interval_n = None, [0] * len(TASKS)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        losses = self.model_step(batch)
        self.log("val/loss", losses.mean(), prog_bar=True, batch_size=len(losses), sync_dist=True)
        for task in TASKS:
            picked = [i for i, t in enumerate(batch["task"]) if t == task]
            if picked:
                self.log(f"val/loss_{task}", losses[picked].mean(), batch_size=len(picked), sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self._optimizer(self.net.parameters())
        if self._scheduler is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self._scheduler(optimizer), "interval": "step", "frequency": 1}}

    def recent_losses(self) -> dict[str, float]:
        """Mean training loss per task over the last ``RECENT_STEPS`` micro-batches that had it (this rank)."""
        return {k: round(sum(map(float, v)) / len(v), 6) for k, v in sorted(self._recent.items()) if v}

    # -- what the checkpoint keeps besides weights and optimizer (every rank's counts) --------------
    def gathered_counts(self) -> list[list[int]]:
        """Samples per task of every rank: [world][len(TASKS)] (collective under DDP)."""
        counts = self.all_gather(self.task_counts.to(self.device))
        return counts.reshape(-1, len(TASKS)).tolist()

    def gathered_skipped(self) -> list[str]:
        """Clips that failed to read, over all ranks (collective under DDP)."""
        mine = sorted(self.skipped_clips)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            everyone: list[list[str]] = [[] for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather_object(everyone, mine)
            return sorted({c for part in everyone for c in part})
        return mine

    def samples_seen(self) -> dict[str, int]:
        """Samples per task over all ranks (collective under DDP)."""
        total = [sum(col) for col in zip(*self.gathered_counts(), strict=True)]
        return {task: int(n) for task, n in zip(TASKS, total, strict=True)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        interval = self._interval_sum.tolist() if self._interval_sum is not None else None
        checkpoint["omnihuman"] = {"task_counts": self.gathered_counts(), "skipped_clips": self.gathered_skipped(),
                                   "initial_val": self.initial_val,
                                   "recent": {k: [float(x) for x in v] for k, v in self._recent.items()},
                                   "interval": {"sum": interval, "n": list(self._interval_n)}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("omnihuman", {})
        per_rank = state.get("task_counts", [[0] * len(TASKS)])
        rank = self.global_rank if self._trainer is not None else 0
        if len(per_rank) > rank and (self._trainer is None or len(per_rank) == self.trainer.world_size):
            self.task_counts = torch.tensor(per_rank[rank], dtype=torch.long)
        else:  # resumed on another number of ranks: rank 0 carries the totals
            total = [sum(col) for col in zip(*per_rank, strict=True)] if rank == 0 else [0] * len(TASKS)
            self.task_counts = torch.tensor(total, dtype=torch.long)
        self.skipped_clips = set(state.get("skipped_clips", []))
        self.initial_val = dict(state.get("initial_val", {}))
        for key, values in state.get("recent", {}).items():
            self._recent[key].extend(values)
        interval = state.get("interval", {})
        if interval.get("sum") is not None:
            self._interval_sum = torch.tensor(interval["sum"], dtype=torch.float32, device=self.device)
            self._interval_n = list(interval["n"])


def warmup_lambda(warmup_steps: int) -> Callable[[int], float]:
    """Linear warm-up to 1 over ``warmup_steps`` optimizer steps, then constant."""
    return lambda step: min(1.0, (step + 1) / max(1, warmup_steps))
