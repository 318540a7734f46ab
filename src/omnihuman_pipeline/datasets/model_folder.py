"""Kedro datasets of training: the stage's model folder, its run folder and a pretrained T2V checkpoint.

* ``ModelFolderDataset``: ``save`` writes ``model.safetensors`` + ``model.json`` (+ ``handoff.json``) of a
  :class:`TrainedModel`; ``load`` returns a :class:`ModelFolder` handle (path + card) for the next stage
  or for generation.
* ``RunFolderDataset``: ``load`` returns the :class:`RunFolder` where Lightning writes ``last.ckpt`` while
  it trains (same folder as the model) and where DVCLive logs, so both paths live in the catalog.
* ``PretrainedWeightsDataset``: ``load`` returns the configured file of a weights key (e.g. ``mmdit_t2v``)
  or None when none is configured; the consumer decides whether it is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from omnihuman_pipeline import weights
from omnihuman_pipeline.models.export import CARD_FILE, ModelCard, read_model_card, save_model_folder

HANDOFF_FILE = "handoff.json"


@dataclass(frozen=True)
class ModelFolder:
    """A trained model folder on local disk: its path and card."""

    path: Path
    card: ModelCard


@dataclass
class TrainedModel:
    """What a training stage hands to its model folder.

    Attributes:
        state_dict: the exported (EMA) weights.
        card: what they are.
        handoff: what was loaded from the previous weights and what was newly initialised.
    """

    state_dict: dict[str, torch.Tensor]
    card: ModelCard
    handoff: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFolder:
    """Where a stage's trainer writes checkpoints (``path``) and logs (``log_dir``)."""

    path: Path
    log_dir: Path


def _local_path(filepath: str, owner: str) -> Path:
    protocol, path = get_protocol_and_path(filepath)
    if protocol != "file":
        raise DatasetError(f"{owner} needs a local folder (Lightning writes into it); got {filepath}")
    return Path(path)


class ModelFolderDataset(AbstractDataset[ModelFolder, TrainedModel]):
    """A trained model folder (``model.safetensors`` + ``model.json``).

    Example catalog entry:

    .. code-block:: yaml

        "{stage}.model":
          type: omnihuman_pipeline.datasets.model_folder.ModelFolderDataset
          filepath: data/06_models/{stage}

    Example:

        >>> from omnihuman_pipeline.models import ModelCard, OmniHumanConfig, OmniHumanTransformer
        >>> config = OmniHumanConfig.from_preset("tiny")
        >>> ds = ModelFolderDataset(filepath=str(tmp_path / "stage1"))
        >>> ds.save(TrainedModel(OmniHumanTransformer(config).state_dict(), ModelCard(config, 1, ("text", "image"))))
        >>> ds.load().card.stage
        1
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = _local_path(filepath, type(self).__name__)
        self.metadata = metadata

    def load(self) -> ModelFolder:
        return ModelFolder(self._path, read_model_card(self._path))

    def save(self, data: TrainedModel) -> None:
        save_model_folder(self._path, data.state_dict, data.card)
        tmp = self._path / f".{HANDOFF_FILE}.tmp"
        tmp.write_text(json.dumps(data.handoff, indent=2, default=str))
        tmp.replace(self._path / HANDOFF_FILE)

    def _exists(self) -> bool:
        return (self._path / CARD_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}


class RunFolderDataset(AbstractDataset[RunFolder, None]):
    """A stage's checkpoint folder and log folder (created on load).

    Example catalog entry:

    .. code-block:: yaml

        "{stage}.run":
          type: omnihuman_pipeline.datasets.model_folder.RunFolderDataset
          filepath: data/06_models/{stage}
          log_dir: data/08_reporting/train/{stage}
    """

    may_be_absent = True  # a store or folder the pipeline that uses it creates and fills in place

    def __init__(self, *, filepath: str, log_dir: str, metadata: dict[str, Any] | None = None):
        self._path = _local_path(filepath, type(self).__name__)
        self._log_dir = _local_path(log_dir, type(self).__name__)
        self.metadata = metadata

    def load(self) -> RunFolder:
        self._path.mkdir(parents=True, exist_ok=True)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return RunFolder(self._path, self._log_dir)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is written by the trainer through the folder it loads")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "log_dir": str(self._log_dir)}


class PretrainedWeightsDataset(AbstractDataset[Path | None, None]):
    """The file of a weights key from ``conf/local/weights.yml`` / ``OMNIHUMAN_WEIGHTS_<KEY>``, or None.

    Example catalog entry:

    .. code-block:: yaml

        pretrained_t2v:
          type: omnihuman_pipeline.datasets.model_folder.PretrainedWeightsDataset
          key: mmdit_t2v
    """

    may_be_absent = True  # None is a valid load (no weights configured): a run does not need the file to exist

    def __init__(self, *, key: str, filepath: str | None = None, metadata: dict[str, Any] | None = None):
        self._key, self._filepath = key, filepath
        self.metadata = metadata

    def load(self) -> Path | None:
        try:
            return weights.resolve(self._key, self._filepath)
        except weights.WeightsNotFoundError:
            return None

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self.load() is not None

    def _describe(self) -> dict[str, Any]:
        return {"key": self._key, "filepath": self._filepath}


