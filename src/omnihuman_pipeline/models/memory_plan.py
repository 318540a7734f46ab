"""GPU memory plan of a training configuration: parameter counts and a per-GPU estimate, before renting GPUs.

An estimate, not a measurement. What it counts, per GPU, under Lightning's ``bf16-mixed`` (fp32 master
weights, bf16 compute):

* weights: 4 B per parameter (fp32), divided by the GPUs under FSDP ``FULL_SHARD``;
* gradients and AdamW moments: 4 + 8 B per *trainable* parameter, sharded the same way;
* EMA: 4 B per trainable parameter when on (FSDP runs keep it off);
* FSDP working set: two blocks gathered unsharded in fp32 (the one computing and the one prefetched);
* activations with per-block activation checkpointing: each block's bf16 input kept for the backward
  ([N, D] x layers), plus one block recomputed: attention q, k, v, out and the FFN's hidden [N, F], in bf16,
  with a factor 2 for the backward's copies. Attention itself is flash/SDPA: no [N, N] matrix.

N is the packed sequence: the noisy window, one reference frame and the motion frames. A real step adds
the allocator's fragmentation and CUDA context (~1-3 GB); the plan prints the sum without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import VAE_SPATIAL_FACTOR, VAE_TEMPORAL_FACTOR, OmniHumanConfig
from .wan import WAN_T2V_CONFIGS, wan_omni_config, wan_parameter_counts

GB = 1024**3
LORA_TARGETS_PER_BLOCK = 10  # q, k, v, out of self- and cross-attention, the FFN's two linears


@dataclass(frozen=True)
class Workload:
    """One training sample's shape: pixel size, pixel frames, motion latent frames."""

    height: int = 480
    width: int = 832
    frames: int = 81
    motion_latent_frames: int = 2

    def tokens(self, config: OmniHumanConfig) -> int:
        """Packed video tokens: noisy window + reference + motion frames."""
        pt, ph, pw = config.patch_size
        latent_frames = 1 + (self.frames - 1) // VAE_TEMPORAL_FACTOR
        per_frame = (self.height // VAE_SPATIAL_FACTOR // ph) * (self.width // VAE_SPATIAL_FACTOR // pw)
        return per_frame * (latent_frames + pt + self.motion_latent_frames) // pt


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory of one configuration, in GiB."""

    name: str
    gpus: int
    parameters: int
    trainable: int
    weights: float
    gradients_and_optimizer: float
    ema: float
    fsdp_gathered: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients_and_optimizer + self.ema + self.fsdp_gathered + self.activations

    def row(self, capacity_gb: float = 80.0) -> str:
        fits = "yes" if self.total < 0.9 * capacity_gb else "no"
        return (f"{self.name:<34} {self.gpus:>4} {self.trainable / 1e9:>9.2f}B {self.weights:>8.1f} "
                f"{self.gradients_and_optimizer:>9.1f} {self.ema:>6.1f} {self.fsdp_gathered:>7.1f} "
                f"{self.activations:>8.1f} {self.total:>8.1f}  {fits}")


HEADER = (f"{'configuration':<34} {'gpus':>4} {'trainable':>10} {'weights':>8} {'grad+adam':>9} {'ema':>6} "
          f"{'gather':>7} {'activ.':>8} {'total':>8}  fits 80 GB (<90 %)")


def lora_parameters(config: OmniHumanConfig, rank: int) -> int:
    """Adapter parameters: r x (in + out) for each adapted linear of every block."""
    d, f = config.hidden_size, int(round(config.mlp_ratio * config.hidden_size))
    per_block = 8 * rank * (d + d) + rank * (d + f) + rank * (f + d)
    return per_block * config.num_layers


def plan(name: str, config: OmniHumanConfig, counts: dict[str, int], workload: Workload, *, gpus: int = 1,
         fsdp: bool = False, lora_rank: int = 0, ema: bool = True) -> MemoryPlan:
    """The per-GPU estimate of one configuration (see the module docstring for what is counted)."""
    total = counts["total"] + (lora_parameters(config, lora_rank) if lora_rank else 0)
    trainable = counts["added"] + lora_parameters(config, lora_rank) if lora_rank else total
    shard = gpus if fsdp else 1
    d, layers = config.hidden_size, config.num_layers
    f = int(round(config.mlp_ratio * d))
    block = (total - counts["added"]) / max(layers, 1)
    n = workload.tokens(config)
    saved = 2 * n * d * layers  # bf16 block inputs
    recompute = 2 * 2 * n * (4 * d + 2 * f)  # q, k, v, out + FFN hidden (in and activated), bf16, x2 backward
    return MemoryPlan(
        name=name, gpus=gpus, parameters=total, trainable=trainable,
        weights=4 * total / shard / GB,
        gradients_and_optimizer=12 * trainable / shard / GB,
        ema=(4 * trainable / GB) if ema and not fsdp else 0.0,
        fsdp_gathered=(2 * 4 * block / GB) if fsdp else 0.0,
        activations=(saved + recompute) / GB,
    )


def wan_plans(size: str, workload: Workload = Workload(), lora_rank: int = 128, **omni) -> tuple[dict, list[MemoryPlan]]:
    """Parameter counts and the memory plans of a Wan2.1 size: 1.3B on one GPU, 14B on 8 with FSDP."""
    if size not in WAN_T2V_CONFIGS:
        raise KeyError(f"unknown Wan size {size!r}; choose one of {sorted(WAN_T2V_CONFIGS)}")
    base = OmniHumanConfig.from_preset("base")
    conditions = {k: getattr(base, k) for k in ("audio_layers", "audio_dim", "audio_hidden", "audio_window",
                                                 "pose_channels", "pose_window", "pose_guider_widths")}
    config = wan_omni_config(WAN_T2V_CONFIGS[size], **{**conditions, **omni})
    counts = wan_parameter_counts(config)
    if size == "1.3B":
        plans = [plan("1.3B full fine-tuning", config, counts, workload),
                 plan(f"1.3B LoRA r={lora_rank}", config, counts, workload, lora_rank=lora_rank)]
    else:
        plans = [plan(f"14B LoRA r={lora_rank}, FSDP", config, counts, workload, gpus=8, fsdp=True,
                      lora_rank=lora_rank),
                 plan("14B full fine-tuning, FSDP", config, counts, workload, gpus=8, fsdp=True)]
    return {"config": config, "counts": counts, "tokens": workload.tokens(config)}, plans


def format_wan_plans(size: str, workload: Workload = Workload(), lora_rank: int = 128) -> str:
    """The printout of ``python -m omnihuman_pipeline.models --backbone wan --size <size>``."""
    info, plans = wan_plans(size, workload, lora_rank)
    c, counts = info["config"], info["counts"]
    lines = [
        f"Wan2.1-T2V-{size} + OmniHuman conditions ({c.num_layers} blocks, width {c.hidden_size}, "
        f"{c.num_heads} heads)",
        f"  backbone  {counts['backbone']:>15,d}",
        f"  added     {counts['added']:>15,d}   (audio adapter + per-block audio cross-attention, pose guider, "
        "pose input channels)",
        f"  total     {counts['total']:>15,d}",
        f"Sample: {workload.width}x{workload.height}, {workload.frames} frames -> {info['tokens']:,d} packed tokens "
        f"(window + reference + {workload.motion_latent_frames} motion latent frames); micro-batch 1, bf16-mixed, "
        "activation checkpointing per block.",
        "Estimated GiB per GPU (not measured; add 1-3 GB for the CUDA context and fragmentation):",
        HEADER,
        *[p.row() for p in plans],
    ]
    return "\n".join(lines)
