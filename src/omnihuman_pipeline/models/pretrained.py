"""Start OmniHuman from a pretrained text-to-video MMDiT checkpoint (paper §3.1, §3.3).

Tensors that match by name and shape are copied. The patch embedding's input grows by the pose
channels: its overlapping input channels are copied and the new ones zeroed, so the stacked pose
features start with no effect. Audio and pose modules keep their fresh (zero-output) initialisation.
Everything else in the checkpoint is reported as skipped, never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

# Weights whose input-channel axis (dim 1) may grow between the T2V checkpoint and OmniHuman.
EXPANDABLE_INPUT_CHANNELS = ("patch_embed.proj.weight", "backbone.patch_embedding.weight")


@dataclass
class LoadReport:
    """What :func:`load_pretrained_t2v` did with every tensor.

    Attributes:
        loaded: model keys copied as is.
        expanded: model keys whose overlapping input channels were copied and new channels zeroed.
        newly_initialized: model keys absent from the checkpoint (audio, pose, ...), left at their init.
        skipped: checkpoint keys not used, with the reason (``"unexpected"`` or a shape mismatch).
    """

    loaded: list[str] = field(default_factory=list)
    expanded: list[str] = field(default_factory=list)
    newly_initialized: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: counts per category."""
        return (
            f"loaded {len(self.loaded)}, expanded {len(self.expanded)}, "
            f"newly initialised {len(self.newly_initialized)}, skipped {len(self.skipped)}"
        )


@torch.no_grad()
def load_pretrained_t2v(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    key_map: Callable[[str], str | None] | None = None,
) -> LoadReport:
    """Copy a text-to-video MMDiT checkpoint into ``model`` in place.

    Args:
        model: an ``OmniHumanTransformer`` (any ``nn.Module`` works).
        state_dict: the checkpoint's tensors.
        key_map: optional renaming of checkpoint keys to model keys (return None to drop a key),
            e.g. ``lambda k: k.removeprefix("model.")``.

    Returns:
        A :class:`LoadReport`.
    """
    report = LoadReport()
    source: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        mapped = key_map(key) if key_map is not None else key
        if mapped is None:
            report.skipped[key] = "dropped by key_map"
        else:
            source[mapped] = value

    target = model.state_dict()
    for name, param in target.items():
        if name not in source:
            report.newly_initialized.append(name)
            continue
        value = source.pop(name)
        if value.shape == param.shape:
            param.copy_(value.to(param.dtype))
            report.loaded.append(name)
        elif name in EXPANDABLE_INPUT_CHANNELS and _expandable(value.shape, param.shape):
            param.zero_()
            param[:, : value.shape[1]].copy_(value.to(param.dtype))
            report.expanded.append(name)
        else:
            report.skipped[name] = f"shape {tuple(value.shape)} != model {tuple(param.shape)}"
            report.newly_initialized.append(name)
    for name in source:
        report.skipped[name] = "unexpected"
    logger.info("load_pretrained_t2v: %s", report.summary())
    return report


def _expandable(src: torch.Size, dst: torch.Size) -> bool:
    """Same shape except a larger input-channel axis (dim 1) in the model."""
    return len(src) == len(dst) and src[0] == dst[0] and src[2:] == dst[2:] and src[1] < dst[1]
