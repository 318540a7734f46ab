"""EMA of the weights through Lightning's ``WeightAveraging`` callback, with a decay warm-up.

Lightning's callback keeps the average in the checkpoint (restored on resume), swaps it in for
validation and copies it into the model when training ends, so the exported weights are the EMA.
A fixed decay of 0.9999 would leave a short run's EMA at its initial weights; the warm-up
``min(decay, (1 + n) / (10 + n))`` (n = updates so far) follows the weights early and reaches the
configured decay after ~10 / (1 - decay) updates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch import Tensor


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


class EMA(WeightAveraging):
    """Exponential moving average updated after every optimizer step.

    Args:
        decay: target decay (e.g. 0.9999).
        warmup: warm the decay up from 0.1 (see :func:`ema_decay`).
    """

    def __init__(self, decay: float, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        super().__init__(use_buffers=True, multi_avg_fn=ema_multi_avg_fn(decay, warmup))
        self.decay, self.warmup = decay, warmup

    def copy_to(self, pl_module) -> None:
        """Put the EMA weights into ``pl_module`` (Lightning does it when training ends, but a resumed run
        that has already reached ``max_steps`` never starts training and so never ends it)."""
        if self._average_model is not None:
            self._copy_average_to_current(pl_module)
