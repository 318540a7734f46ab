"""The lifecycle on the Wan2.1 backbone in the tiny profile's shapes, on random tiny diffusers/transformers weights:
`kedro run` features (AutoencoderKLWan + umT5) -> train (three stages, stage 1 from the Wan folder, LoRA) -> generate.
"""

from __future__ import annotations

import json
import shutil

import av
import pandas as pd
import pytest
import yaml

from omnihuman_pipeline.models import load_model_folder
from tests.wan_tiny import save_tiny_umt5, save_tiny_wan_transformer, save_tiny_wan_vae

from .conftest import make_project, run_kedro

ENV = "wan_tiny"


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def write_wan_tiny_env(project) -> None:
    """conf/wan_tiny: the tiny profile with the wan profile's backends, backbone and stage-1 start."""
    conf = project / "conf"
    shutil.copytree(conf / "tiny", conf / ENV)
    changes = {
        "parameters_features.yml": {"features": {"video": {"backend": "wan_vae", "dtype": "float32"},
                                                 "text": {"backend": "umt5", "max_length": 8}}},
        "parameters_train.yml": {"train": {"model": {"backbone": "wan", "lora_rank": 4},
                                           "flow": {"prediction": "velocity", "shift": 3.0},
                                           "trainer": {"progress_bar": False}},
                                 "stage1": {"init": "pretrained", "max_steps": 2},
                                 "stage2": {"max_steps": 2}, "stage3": {"max_steps": 2}},
        "parameters_generate.yml": {"generate": {"steps": 2}},
    }
    for name, extra in changes.items():
        file = conf / ENV / name
        file.write_text(yaml.safe_dump(_merge(yaml.safe_load(file.read_text()), extra), sort_keys=False))
    jobs = yaml.safe_load((conf / ENV / "parameters_generate.yml").read_text())
    jobs["generate_jobs"] = [dict(jobs["generate_jobs"][0], seconds=1.0)]
    (conf / ENV / "parameters_generate.yml").write_text(yaml.safe_dump(jobs, sort_keys=False))


@pytest.mark.slow
def test_features_train_generate_on_the_wan_backbone(tmp_path, tiny_corpus, curated_project, monkeypatch):
    weights = tmp_path / "Wan2.1-T2V-tiny-Diffusers"
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_VAE", str(save_tiny_wan_vae(weights / "vae", z_dim=4)))
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_UMT5", str(save_tiny_umt5(weights / "text_encoder", d_model=16)))
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_WAN_T2V", str(save_tiny_wan_transformer(weights / "transformer")))
    project = make_project(tmp_path / "project", tiny_corpus)
    for layer in ("02_intermediate", "03_primary"):
        shutil.copytree(curated_project / "data" / layer, project / "data" / layer, dirs_exist_ok=True)
    write_wan_tiny_env(project)

    run_kedro(project, "features", env=ENV)
    index = pd.read_parquet(project / "data/04_feature/features.parquet")
    ok = index[index["status"] == "ok"]
    assert len(ok) and set(ok["latent_channels"]) == {4} and set(ok["text_dim"]) == {16}

    run_kedro(project, "train", env=ENV, timeout=900)
    for index_, stage in enumerate(("stage1", "stage2", "stage3"), start=1):
        model, card = load_model_folder(project / "data/06_models" / stage)
        assert type(model).__name__ == "WanOmniTransformer" and card.stage == index_
        assert card.feature_backends["video"] == "wan_vae" and card.feature_backends["text"] == "umt5"
        assert card.training["weights"] == "merged LoRA"
    handoff = json.loads((project / "data/06_models/stage1/handoff.json").read_text())
    assert handoff["kind"] == "wan text-to-video backbone" and not handoff["skipped"]

    run_kedro(project, "generate", env=ENV)
    table = pd.read_parquet(project / "data/07_model_output/generated.parquet")
    assert table["status"].tolist() == ["ok"] and table["flow_shift"].tolist() == [3.0]
    with av.open(str(project / table.loc[0, "output"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == int(table.loc[0, "frames"]) == 25
