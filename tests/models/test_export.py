"""Model folders: save -> load round trip, strict loading, readable errors."""

from __future__ import annotations

import json

import pytest
import torch

from omnihuman_pipeline.models import (
    ModelCard,
    ModelFolderError,
    OmniHumanConfig,
    OmniHumanTransformer,
    load_model_folder,
    read_model_card,
    save_model_folder,
)


def test_round_trip_keeps_weights_and_card(tmp_path, make_model, inputs_factory):
    """The loaded network gives the saved one's outputs; the card (tuples included) survives JSON."""
    model = make_model()
    card = ModelCard(model.config, stage=2, conditions=("text", "image", "audio"),
                     feature_backends={"audio": "whisper"}, flow={"shift": 3.0})
    save_model_folder(tmp_path / "m", model, card)
    loaded, card2 = load_model_folder(tmp_path / "m")
    assert card2 == card and card2.config.patch_size == (1, 2, 2)
    inputs = inputs_factory(model.config)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs), model(**inputs))


def test_mismatching_weights_and_missing_folder_are_clear_errors(tmp_path):
    """A card whose config differs from the weights, and a folder without model.json, raise ModelFolderError."""
    config = OmniHumanConfig.from_preset("tiny")
    save_model_folder(tmp_path / "m", OmniHumanTransformer(config), ModelCard(config, 1, ("text", "image")))
    data = json.loads((tmp_path / "m/model.json").read_text())
    data["config"]["num_layers"] = 3
    (tmp_path / "m/model.json").write_text(json.dumps(data))
    with pytest.raises(ModelFolderError, match="does not match"):
        load_model_folder(tmp_path / "m")
    with pytest.raises(ModelFolderError, match="train a stage first"):
        read_model_card(tmp_path / "nothing")
