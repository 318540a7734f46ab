"""Fine-tuning a pretrained backbone: LoRA adapters (peft), merged export, and the FSDP strategy.

LoRA (OmniAvatar's recipe): the backbone's attention and FFN linears get rank-r adapters and every
other backbone weight is frozen, while the modules OmniHuman adds (audio adapter and cross-attention,
pose guider, the grown patch embedding) train fully.

Export: ``model.safetensors`` holds merged weights (``W + scale * B A`` per adapted linear) in the
plain key layout. Why merged rather than base path + adapters: the next stage and generation then
load one self-contained file with a strict key check, and nothing depends on a multi-GB base file
staying unchanged at a path; the cost is the file's size (the full model, not only the adapters).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

LORA_KEY = ".lora_"
BASE_KEY = ".base_layer."


def apply_lora(net: nn.Module, rank: int, alpha: float, targets: tuple[str, ...], dropout: float = 0.0) -> dict[str, Any]:
    """Add LoRA adapters to ``net.backbone`` and freeze the rest of the backbone, in place.

    Args:
        net: a wrapper with a ``backbone`` (e.g. ``WanOmniTransformer``) and ``new_module_names()``.
        rank: adapter rank r.
        alpha: scale numerator (0: equal to ``rank``).
        targets: module-name suffixes inside the backbone that get adapters.
        dropout: adapter input dropout.

    Returns:
        ``{"rank", "alpha", "targets", "adapted_modules", "trainable", "frozen"}`` (parameter counts).
    """
    from peft import LoraConfig, inject_adapter_in_model

    if not hasattr(net, "backbone"):
        raise ValueError("LoRA adapts a pretrained backbone: the network has none (train.model.backbone: wan)")
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=list(targets), lora_dropout=dropout,
                        init_lora_weights=True)
    inject_adapter_in_model(config, net.backbone)
    keep = set(net.new_module_names())
    for name, param in net.named_parameters():
        param.requires_grad_(LORA_KEY in name or name in keep)
    adapted = sorted({n.split(LORA_KEY)[0] for n, _ in net.named_parameters() if LORA_KEY in n})
    if not adapted:
        raise ValueError(f"no backbone module matches train.model.lora_targets {list(targets)}")
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    logger.info("LoRA rank %d on %d modules: %s trainable, %s frozen parameters", rank, len(adapted),
                f"{trainable:,}", f"{frozen:,}")
    return {"rank": rank, "alpha": alpha or rank, "targets": list(targets), "adapted_modules": len(adapted),
            "trainable": trainable, "frozen": frozen}


@torch.no_grad()
def merged_state_dict(net: nn.Module) -> dict[str, Tensor]:
    """The network's weights with every LoRA adapter merged in, under the plain (adapter-free) key names."""
    from peft.tuners.lora import LoraLayer

    state = {k: v.detach() for k, v in net.state_dict().items()}
    for name, module in net.named_modules():
        if isinstance(module, LoraLayer):
            key = f"{name}{BASE_KEY}weight"
            delta = sum(module.get_delta_weight(a) for a in module.active_adapters)
            state[key] = state[key] + delta.to(state[key].dtype)
    return {k.replace(BASE_KEY, "."): v for k, v in state.items() if LORA_KEY not in k}


def has_lora(net: nn.Module) -> bool:
    return any(LORA_KEY in name for name, _ in net.named_parameters())


def export_state(net: nn.Module) -> dict[str, Tensor]:
    """What ``model.safetensors`` holds: the weights on the CPU, LoRA adapters merged."""
    state = merged_state_dict(net) if has_lora(net) else net.state_dict()
    return {k: v.detach().cpu() for k, v in state.items()}


def block_classes(net: nn.Module) -> set[type[nn.Module]]:
    """The transformer block classes of a network (FSDP's wrap unit and activation-checkpointing unit)."""
    names = set(getattr(net, "_no_split_modules", ()))
    return {type(m) for m in net.modules() if type(m).__name__ in names}


def build_strategy(strategy: str, net: nn.Module, activation_checkpointing: bool) -> Any:
    """Lightning's strategy for ``train.trainer.strategy``: ``fsdp`` becomes an ``FSDPStrategy`` that shards
    per transformer block (and checkpoints each block's activations when asked); anything else passes through.
    """
    if strategy != "fsdp":
        return strategy
    from lightning.pytorch.strategies import FSDPStrategy

    blocks = block_classes(net)
    if not blocks:
        raise ValueError(f"{type(net).__name__} names no transformer block class to shard by")
    return FSDPStrategy(auto_wrap_policy=blocks, sharding_strategy="FULL_SHARD", use_orig_params=True,
                        activation_checkpointing_policy=blocks if activation_checkpointing else None,
                        state_dict_type="full", limit_all_gathers=True)
