"""Typed views of ``parameters_train.yml``: the shared ``train`` group and one group per stage.

``train`` holds what every stage shares (model preset, data windows, optimizer, flow matching, EMA,
trainer, the Principle 2 ratios); ``stage1`` … ``stage3`` (and the ablation variants) hold what a
stage changes: the conditions it trains, its step budget, its T-only fraction and, optionally,
ratios of its own. Unknown keys are errors, so a typo never silently trains with a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from omnihuman_pipeline.training.conditions import DRIVING, Ratios
from omnihuman_pipeline.training.flow_matching import check_prediction


@dataclass(frozen=True)
class ModelSettings:
    """Network size and execution.

    Attributes:
        preset: ``tiny`` | ``base`` | ``paper``: width, depth and heads. Channels come from the features.
        overrides: any other :class:`~omnihuman_pipeline.models.OmniHumanConfig` fields to set.
        attention_backend: ``sdpa`` | ``math``.
        gradient_checkpointing: recompute each block in the backward pass (with FSDP: the strategy's
            activation checkpointing of each block).
        backbone: ``native`` (this project's MMDiT, sized by ``preset``) or ``wan`` (diffusers' Wan2.1
            text-to-video transformer, sized by its folder's ``config.json``; ``preset`` then only sizes the
            audio adapter and pose guider).
        backbone_weights: the weights key of the backbone's diffusers folder (``wan_t2v``).
        lora_rank: 0 trains every weight; > 0 freezes the backbone and trains LoRA adapters of this rank on
            its attention and FFN (``lora_targets``), while the new modules (audio, pose, patch embedding)
            train fully. The exported weights are merged.
        lora_alpha: LoRA scale numerator (0: equal to the rank, scale 1).
        lora_targets: module-name suffixes inside the backbone that get adapters.
        lora_dropout: dropout on the adapters' input.
    """

    preset: str = "base"
    overrides: dict[str, Any] = field(default_factory=dict)
    attention_backend: str = "sdpa"
    gradient_checkpointing: bool = False
    backbone: str = "native"
    backbone_weights: str = "wan_t2v"
    lora_rank: int = 0
    lora_alpha: float = 0.0
    lora_targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2")
    lora_dropout: float = 0.0

    def __post_init__(self) -> None:
        from omnihuman_pipeline.models.config import BACKBONES

        if self.backbone not in BACKBONES:
            raise ValueError(f"train.model.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.lora_rank < 0:
            raise ValueError(f"train.model.lora_rank must be >= 0, got {self.lora_rank}")
        if self.lora_rank and self.backbone == "native":
            raise ValueError("train.model.lora_rank adapts a pretrained backbone: set train.model.backbone: wan "
                             "(the native model trains all its weights)")


@dataclass(frozen=True)
class DataSettings:
    """Training windows and the validation split.

    Attributes:
        window_latent_frames: noisy latent frames per sample (21 -> 81 pixel frames, 3.2 s at 25 fps).
        motion_probability: share of samples whose window starts late enough to carry motion frames
            (the latents of the 5 pixel frames just before it, paper §3.2/§3.4).
        batch_size: samples per device per micro-batch (one latent shape per batch).
        num_workers: DataLoader worker processes.
        val_fraction: share of videos held out for validation (by ``video_id``).
        val_min_videos: at least this many validation videos (when the data allows).
        val_samples_per_task: fixed validation windows per clip and task.
        seed: seed of the split, the sampling plan and the noise.
    """

    window_latent_frames: int = 21
    motion_probability: float = 0.5
    batch_size: int = 1
    num_workers: int = 4
    val_fraction: float = 0.05
    val_min_videos: int = 1
    val_samples_per_task: int = 2
    seed: int = 0


@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW with a linear warm-up (paper §4.1: lr 5e-5, weight decay 0.01, gradient clip 1.0).

    Attributes:
        lr: peak learning rate.
        weight_decay: decoupled weight decay.
        betas: Adam betas.
        eps: Adam epsilon.
        warmup_steps: linear warm-up from 0 to ``lr`` over these optimizer steps.
        grad_clip: gradient norm clip (0: off).
        global_batch_size: samples per optimizer step over all devices (paper: 256); the micro-batches
            are accumulated to reach it.
    """

    lr: float = 5e-5
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 1000
    grad_clip: float = 1.0
    global_batch_size: int = 256


LOSS_SPACES = ("velocity", "x0")


@dataclass(frozen=True)
class FlowSettings:
    """Training noise levels (see ``flow_matching.py``); sampling reuses ``shift``.

    Attributes:
        scheme: ``logit_normal`` | ``uniform``.
        mean: logit-normal location.
        std: logit-normal scale.
        shift: resolution shift of the sigmas (1: none).
        prediction: what the network outputs: ``velocity`` (eps - x0; pretrained T2V backbones) or ``x0``
            (the clean latents, JiT; the loss stays on the velocity). Recorded in ``model.json``.
        min_sigma: lower clamp of sigma when an x0 output is turned into a velocity for the loss.
        mouth_weight: training loss weight of the mouth's latent cells, boxed from the clip's face keypoints
            (``training/mouth_weight.py``); 1 is the uniform loss. Validation losses stay uniform.
        loss_space: where the training loss is measured: ``velocity`` (the flow-matching loss) or ``x0`` (the
            velocity loss times ``max(sigma, min_sigma)^2``, the clean-latent error). The velocity loss weighs an
            error at sigma by ``1 / sigma^2``, so low-noise denoising dominates the gradient; the conditions that
            decide what is drawn (reference, audio) act at high noise. Validation losses stay in velocity space.
    """

    scheme: str = "logit_normal"
    mean: float = 0.0
    std: float = 1.0
    shift: float = 3.0
    prediction: str = "velocity"
    min_sigma: float = 0.05
    mouth_weight: float = 1.0
    loss_space: str = "velocity"

    def __post_init__(self) -> None:
        check_prediction(self.prediction)
        if self.loss_space not in LOSS_SPACES:
            raise ValueError(f"unknown train.flow.loss_space {self.loss_space!r}; choose one of {LOSS_SPACES}")
        if self.mouth_weight < 1.0:
            raise ValueError(f"flow.mouth_weight must be >= 1 (1: uniform loss), got {self.mouth_weight}")
        if not 0.0 <= self.min_sigma < 1.0:
            raise ValueError(f"flow.min_sigma must be in [0, 1), got {self.min_sigma}")


@dataclass(frozen=True)
class EmaSettings:
    """Exponential moving average of the weights (what ``model.safetensors`` holds).

    Attributes:
        decay: EMA decay; 0 turns the EMA off (the trained weights are exported).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` at update n, so short runs are not dominated
            by the initial weights.
    """

    decay: float = 0.9999
    warmup: bool = True


@dataclass(frozen=True)
class TrainerSettings:
    """Lightning ``Trainer`` settings.

    Attributes:
        accelerator: ``auto`` | ``cpu`` | ``gpu``.
        devices: ``auto`` or a count.
        num_nodes: nodes (multi-node through torchrun / SLURM).
        strategy: ``auto`` | ``ddp`` | ``fsdp`` | any Lightning strategy name.
        precision: ``auto`` (``bf16-mixed`` on GPU, ``32-true`` on CPU) or a Lightning precision.
        val_every_n_steps: validation interval in optimizer steps (0: only at the end).
        checkpoint_every_n_steps: ``last.ckpt`` interval in optimizer steps.
        log_every_n_steps: logging interval in optimizer steps.
        deterministic: ``torch.use_deterministic_algorithms`` (exact resume on CPU).
        progress_bar: show Lightning's progress bar.
    """

    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    val_every_n_steps: int = 1000
    checkpoint_every_n_steps: int = 500
    log_every_n_steps: int = 10
    deterministic: bool = False
    progress_bar: bool = True


@dataclass(frozen=True)
class TrainSettings:
    """The shared ``train`` group."""

    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    ema: EmaSettings = field(default_factory=EmaSettings)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    ratios: Ratios = field(default_factory=Ratios)
    overwrite: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> TrainSettings:
        params = dict(params or {})
        parts = {"model": ModelSettings, "data": DataSettings, "optimizer": OptimizerSettings,
                 "flow": FlowSettings, "ema": EmaSettings, "trainer": TrainerSettings, "ratios": Ratios}
        _check_keys(cls.__name__, params, set(parts) | {"overwrite"})
        built = {name: _build(kind, params.get(name)) for name, kind in parts.items()}
        return cls(**built, overwrite=bool(params.get("overwrite", False)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


INITS = ("scratch", "pretrained", "t2v", "previous")  # t2v: the older name of pretrained


@dataclass(frozen=True)
class StageSettings:
    """One training stage (``parameters_train.yml: stage1`` …).

    Attributes:
        name: the stage's name (its namespace, e.g. ``stage2``).
        conditions: driving conditions it trains, from ``text``, ``audio``, ``pose`` (the reference
            image is always on).
        max_steps: optimizer steps.
        t_only_fraction: Principle 1: share of the T-only clips (eligible for none of the stage's
            audio/pose conditions) kept in the mix as text + image tasks.
        ratios: this stage's training ratios (None: ``train.ratios``).
        init: stage 1 only: ``scratch`` or ``pretrained`` (a text-to-video checkpoint: for the native backbone
            weights key ``mmdit_t2v``, for ``wan`` the diffusers folder of ``train.model.backbone_weights``;
            ``t2v`` is the same).
        index: the stage's number in the model card (1, 2, 3).
        flow: this stage's changes to ``train.flow`` (e.g. ``mouth_weight`` and ``loss_space`` from the stage that
            adds audio on); None: the shared settings.
    """

    name: str
    conditions: tuple[str, ...]
    max_steps: int
    t_only_fraction: float = 1.0
    ratios: Ratios | None = None
    init: str = "scratch"
    index: int = 1
    flow: dict[str, Any] | None = None

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any]) -> StageSettings:
        params = dict(params or {})
        _check_keys(f"stage {name}", params, {f.name for f in fields(cls)} - {"name"})
        conditions = tuple(params.pop("conditions", ("text",)))
        unknown = set(conditions) - set(DRIVING)
        if unknown:
            raise KeyError(f"stage {name}: unknown conditions {sorted(unknown)}; choose from {DRIVING}")
        if params.get("init", "scratch") not in INITS:
            raise ValueError(f"stage {name}: init must be one of {' | '.join(INITS)}, got {params['init']!r}")
        ratios = params.pop("ratios", None)
        if params.get("flow"):
            _check_keys(f"stage {name} flow", params["flow"], {f.name for f in fields(FlowSettings)})
        return cls(name=name, conditions=tuple(c for c in DRIVING if c in conditions),
                   ratios=None if ratios is None else _build(Ratios, ratios), **params)

    def effective_settings(self, train: TrainSettings) -> TrainSettings:
        """The shared settings with this stage's ``flow`` changes."""
        if not self.flow:
            return train
        return replace(train, flow=_build(FlowSettings, {**asdict(train.flow), **self.flow}))

    def effective_ratios(self, train: TrainSettings) -> Ratios:
        """The stage's ratios: its own where given, else the shared ones."""
        return self.ratios or train.ratios

    def card_conditions(self) -> tuple[str, ...]:
        """Conditions recorded in the model card (``models.export.CONDITIONS`` order, image included)."""
        return tuple(c for c in ("text", "image", "audio", "pose") if c == "image" or c in self.conditions)

    def with_overrides(self, **changes: Any) -> StageSettings:
        return replace(self, **changes)


def _check_keys(owner: str, values: dict[str, Any], known: set[str]) -> None:
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"unknown {owner} settings {sorted(unknown)}; known: {sorted(known)}")


def _build(cls, values: dict[str, Any] | None):
    values = dict(values or {})
    _check_keys(cls.__name__, values, {f.name for f in fields(cls)})
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**typed)
