"""The features pipeline on the Wan2.1 encoders: a tiny random AutoencoderKLWan and umT5 found through the
weights settings, run over the fixture clips."""

from __future__ import annotations

import copy
import json

import pytest

from omnihuman_pipeline.features.loader import FeatureDataset
from omnihuman_pipeline.features.shards import FeatureStore
from omnihuman_pipeline.pipelines.features.nodes import cache_features
from tests.wan_tiny import save_tiny_umt5, save_tiny_wan_vae

GOOD = ["a-000000", "b-000000", "c-000000"]  # with pose and audio, without audio, with audio


@pytest.fixture(scope="module")
def wan_weights(tmp_path_factory):
    """Folders of a 4-channel Wan VAE and a d_model-16 umT5 encoder."""
    root = tmp_path_factory.mktemp("wan_weights")
    return save_tiny_wan_vae(root / "vae", z_dim=4), save_tiny_umt5(root / "umt5", d_model=16)


def test_features_on_the_wan_vae_and_umt5(wan_weights, clips_table, tiny_params, tmp_path, monkeypatch):
    """wan_vae + umt5 through OMNIHUMAN_WEIGHTS_*: rows ok, 4 latent channels, 16-wide text, backends recorded."""
    vae, umt5 = wan_weights
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_VAE", str(vae))
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_UMT5", str(umt5))
    params = copy.deepcopy(tiny_params)
    params["video"] |= {"backend": "wan_vae"}
    params["text"] |= {"backend": "umt5"}
    store = FeatureStore.at(str(tmp_path / "shards"))
    index, summary = cache_features(clips_table[clips_table.clip_id.isin(GOOD)], store, params)

    assert index["status"].tolist() == ["ok"] * 3 and summary["computed_clips"] == 3
    assert (index["latent_channels"] == 4).all() and (index["text_dim"] == 16).all()
    assert (index["video_backend"] == "wan_vae").all() and (index["text_backend"] == "umt5").all()
    assert {json.loads(b)["video"] for b in index["backends"]} == {"wan_vae"}
    assert {json.loads(b)["text"] for b in index["backends"]} == {"umt5"}
    rec = FeatureDataset(index, store)[0]
    assert rec["latents"].shape == (4, 3, 4, 6) and rec["text"].shape == (8, 16)
    assert not rec["text"][~rec["text_mask"]].any()
