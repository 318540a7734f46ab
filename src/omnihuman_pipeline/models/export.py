"""A trained model folder: ``model.safetensors`` (the weights) and ``model.json`` (what they are).

Layout written by every training stage (``data/06_models/stage{1,2,3}/``) and read by generation::

    model.safetensors   OmniHumanTransformer state dict (the EMA weights), float32
    model.json          {"format": "omnihuman-model/1", "stage": 2, "conditions": ["text", "image", "audio"],
                         "config": {OmniHumanConfig fields}, "features": {FeatureConfig settings},
                         "feature_backends": {"video": "patchify", "audio": "whisper", ...},
                         "flow": {"shift": 1.0, ...}, "training": {...}}

``features`` and ``feature_backends`` name the encoders the weights were trained on, so generation
encodes its inputs with exactly those (a mismatch is one error naming both sides).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .config import OmniHumanConfig
from .mmdit import OmniHumanTransformer
from .registry import build_model

FORMAT = "omnihuman-model/1"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
CONDITIONS = ("text", "image", "audio", "pose")


class ModelFolderError(ValueError):
    """A model folder is missing, incomplete or does not match what it is used with."""


def config_from_dict(values: dict[str, Any]) -> OmniHumanConfig:
    """Rebuild an :class:`OmniHumanConfig` from its JSON form (lists back to tuples; unknown keys refused)."""
    known = {f.name: f for f in fields(OmniHumanConfig)}
    unknown = set(values) - set(known)
    if unknown:
        raise ModelFolderError(f"unknown OmniHumanConfig fields {sorted(unknown)}")
    return OmniHumanConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class ModelCard:
    """What a model folder's weights are.

    Attributes:
        config: the architecture.
        stage: training stage that made the weights (1, 2, 3; 0 = untrained).
        conditions: the conditions the weights were trained with (``CONDITIONS`` order).
        features: the feature settings (``parameters_features.yml: features``) of the training data.
        feature_backends: backend name per feature kind (``video``, ``audio``, ``text``, ``pose``).
        flow: flow-matching settings of training that sampling must reuse (``shift``, ...).
        training: facts about the run (steps, samples, losses, source checkpoint).
    """

    config: OmniHumanConfig
    stage: int
    conditions: tuple[str, ...]
    features: dict[str, Any] = field(default_factory=dict)
    feature_backends: dict[str, str] = field(default_factory=dict)
    flow: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["config"] = self.config.to_dict()
        out["conditions"] = list(self.conditions)
        return {"format": FORMAT, **out}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        if data.get("format") != FORMAT:
            raise ModelFolderError(f"model.json has format {data.get('format')!r}, expected {FORMAT!r}")
        return cls(
            config=config_from_dict(data["config"]), stage=int(data["stage"]),
            conditions=tuple(data["conditions"]), features=data.get("features", {}),
            feature_backends=data.get("feature_backends", {}), flow=data.get("flow", {}),
            training=data.get("training", {}),
        )


def save_model_folder(path: str | Path, model: OmniHumanTransformer | dict[str, torch.Tensor],
                      card: ModelCard) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``path`` (each atomically renamed into place).

    Args:
        path: the folder (created).
        model: the network or its state dict.
        card: what the weights are.

    Returns:
        The folder.
    """
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    tmp = folder / f".{WEIGHTS_FILE}.tmp"
    save_file(state, str(tmp), metadata={"format": FORMAT})
    tmp.chmod(0o666 & ~_umask())  # safetensors creates the file 0600; its siblings follow the umask
    tmp.replace(folder / WEIGHTS_FILE)
    tmp = folder / f".{CARD_FILE}.tmp"
    tmp.write_text(json.dumps(card.to_json(), indent=2, default=str))
    tmp.replace(folder / CARD_FILE)
    return folder


def read_model_card(path: str | Path) -> ModelCard:
    """The :class:`ModelCard` of a model folder."""
    file = Path(path) / CARD_FILE
    if not file.is_file():
        raise ModelFolderError(f"{path} is not a model folder: {CARD_FILE} is missing (train a stage first)")
    return ModelCard.from_json(json.loads(file.read_text()))


def load_model_folder(path: str | Path, device: str | torch.device = "cpu",
                      backend: str = "sdpa") -> tuple[OmniHumanTransformer, ModelCard]:
    """Build the network of a model folder and load its weights (strict: every tensor must match).

    Args:
        path: a folder written by :func:`save_model_folder`.
        device: where the network goes.
        backend: attention backend.

    Returns:
        The network in eval mode and its card.
    """
    card = read_model_card(path)
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFolderError(f"{path}: {WEIGHTS_FILE} is missing")
    model = build_model(card.config, backend=backend)
    state = read_weights(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFolderError(f"{weights} does not match its model.json config: {err}") from None
    return model.to(device).eval(), card


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``model.safetensors`` state dict, or one :class:`ModelFolderError` naming the file when it is damaged,
    incomplete or holds non-finite values."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError for a truncated or damaged file
        raise ModelFolderError(f"{path} cannot be read ({type(err).__name__}: {err}): the file is damaged or "
                               "incomplete; re-export it (rerun the stage) or copy it again") from None
    bad = non_finite_tensors(state)
    if bad:
        raise ModelFolderError(f"{path} holds non-finite weights ({len(bad)} tensors, e.g. {bad[0]}): the run "
                               "that wrote it diverged; retrain the stage")
    return state


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold a NaN or an infinity, sorted."""
    return sorted(k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
