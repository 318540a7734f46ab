"""EMA of the weights through Lightning's ``WeightAveraging`` callback, with a decay warm-up.

Lightning's callback keeps the average in the checkpoint (restored on resume), swaps it in for
validation and copies it into the model when training ends, so the exported weights are the EMA.
A fixed decay of 0.9999 would leave a short run's EMA at its initial weights; the warm-up
``min(decay, (1 + n) / (10 + n))`` (n = updates so far) follows the weights early and reaches the
configured decay after ~10 / (1 - decay) updates.

The update itself is ours: ``AveragedModel.update_parameters`` walks both modules' parameters,
detaches and regroups them every step and reads its update counter off the device (a host sync on
a GPU). Here the tensor pairs are grouped once when training starts and the counter is a Python
int, so a step costs one fused ``lerp`` per device/dtype group and nothing else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch import Tensor, nn


def ema_decay(decay: float, num_updates: int, warmup: bool) -> float:
    """The decay used for update number ``num_updates`` (0-based)."""
    return min(decay, (1 + num_updates) / (10 + num_updates)) if warmup else decay


def ema_multi_avg_fn(decay: float, warmup: bool) -> Callable[[list[Tensor], list[Tensor], Tensor | int], None]:
    """``AveragedModel`` ``multi_avg_fn``: ``average <- d * average + (1 - d) * current`` over a group of tensors
    in one fused ``lerp`` (a per-tensor Python loop cost ~10 ms a step on the tiny model on a CPU)."""

    def avg(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor | int) -> None:
        if not averaged[0].is_floating_point():  # integer buffers (counters) follow the model
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, 1.0 - ema_decay(decay, int(num_averaged), warmup))

    return avg


def paired_groups(averaged: nn.Module, current: nn.Module) -> list[tuple[list[Tensor], list[Tensor]]]:
    """(average tensors, current tensors) per device and dtype: parameters then buffers, in module order."""
    avg = [t.detach() for t in itertools.chain(averaged.parameters(), averaged.buffers())]
    cur = [t.detach() for t in itertools.chain(current.parameters(), current.buffers())]
    if len(avg) != len(cur):
        raise ValueError(f"the average has {len(avg)} tensors, the model {len(cur)}")
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = {}
    for a, c in zip(avg, cur, strict=True):
        if (a.device, a.dtype) != (c.device, c.dtype):
            raise ValueError(f"an averaged tensor is {a.dtype} on {a.device}, the model's {c.dtype} on {c.device}")
        pair = groups.setdefault((a.device, a.dtype), ([], []))
        pair[0].append(a)
        pair[1].append(c)
    return list(groups.values())


class EMA(WeightAveraging):
    """Exponential moving average updated after every optimizer step.

    Args:
        decay: target decay (e.g. 0.9999).
        warmup: warm the decay up from 0.1 (see :func:`ema_decay`).
    """

    def __init__(self, decay: float, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self._avg_fn = ema_multi_avg_fn(decay, warmup)
        super().__init__(use_buffers=True, multi_avg_fn=self._avg_fn)
        self.decay, self.warmup = decay, warmup
        self._groups: list[tuple[list[Tensor], list[Tensor]]] | None = None
        self._num_updates = 0

    def on_train_start(self, trainer, pl_module) -> None:
        # the model is on its device and a resumed checkpoint is loaded (both copy in place from here on)
        assert self._average_model is not None
        self._groups = paired_groups(self._average_model.module, pl_module)
        self._num_updates = int(self._average_model.n_averaged)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=trainer.global_step - 1):
            self.update(pl_module)
            self._latest_update_step = trainer.global_step

    def update(self, pl_module) -> None:
        """One EMA update from ``pl_module``'s weights (the first update copies them)."""
        if self._groups is None:
            self.on_train_start(None, pl_module)
        n = self._num_updates
        for averaged, current in self._groups:
            if n == 0:
                torch._foreach_copy_(averaged, current)
            else:
                self._avg_fn(averaged, current, n)
        self._average_model.n_averaged.add_(1)
        self._num_updates = n + 1

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        self._groups = None

    def copy_to(self, pl_module) -> None:
        """Put the EMA weights into ``pl_module`` (Lightning does it when training ends, but a resumed run
        that has already reached ``max_steps`` never starts training and so never ends it)."""
        if self._average_model is not None:
            self._copy_average_to_current(pl_module)
