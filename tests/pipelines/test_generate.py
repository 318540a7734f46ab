"""The generate pipeline over the tiny profile's default jobs: declaration, an in-process run, `kedro run`."""

from __future__ import annotations

import av
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from omnihuman_pipeline.pipelines.generate import create_pipeline
from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS
from tests.inference.conftest import one_torch_thread, write_model_folder  # noqa: F401  (autouse fixture)

from .conftest import make_project, run_kedro

INPUTS = ["params:generate_jobs", "params:generate", "params:caption", "generate_inputs", "generate_models",
          "generated_videos", "stage3.model"]


def write_talking_inputs(raw, seconds: float = 2.0) -> None:
    """The two tiny-corpus clips the default jobs name, made by the corpus's own talking-clip generator."""
    from omnihuman_pipeline.corpus import encode
    from omnihuman_pipeline.corpus.talking import FILE_SR, SPEECH_SR, _resample, talking_clip

    (raw / "talking").mkdir(parents=True, exist_ok=True)
    for name, two in (("synced_0", False), ("two_person", True)):
        clip = talking_clip(seed=7 if two else 0, duration_s=seconds, two_person=two)
        encode.write_video(raw / "talking" / f"{name}.mp4", clip.frames,
                           audio=_resample(clip.audio, SPEECH_SR, FILE_SR), sample_rate=FILE_SR)


def tiny_params(project) -> dict:
    loader = OmegaConfigLoader(str(project / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "tiny"})
    return loader["parameters"], loader["catalog"]


def test_pipeline_declaration():
    """One thin node from the jobs, settings, captioner, three folders and the final model to the generated table."""
    [node] = create_pipeline().nodes
    assert node.name == "generate_videos_node" and node.inputs == INPUTS and node.outputs == ["generated"]


def test_tiny_default_jobs_run_in_process(tmp_path, monkeypatch):
    """The tiny profile's jobs (talking head, two-person speaker 0) write 2 s mp4s with audio and their table."""
    project = make_project(tmp_path / "project")
    write_talking_inputs(project / "data/01_raw")
    write_model_folder(project / "data/06_models/stage3", 3)
    params, catalog_conf = tiny_params(project)
    assert [j["name"] for j in params["generate_jobs"]] == ["talking_synced", "two_person_left"]
    monkeypatch.chdir(project)
    catalog = DataCatalog.from_config({k: v for k, v in catalog_conf.items()
                                       if k.startswith("generate") or k == "{stage}.model"})
    for key in ("generate_jobs", "generate", "caption"):
        catalog[f"params:{key}"] = params[key] if key != "generate" else {**params[key], "progress": False}
    SequentialRunner().run(create_pipeline(), catalog)
    table = pd.read_parquet(project / "data/07_model_output/generated.parquet")
    assert table["status"].tolist() == ["ok", "ok"] and table["frames"].tolist() == [50, 50]
    assert table["steps"].tolist() == [params["generate"]["steps"]] * 2 and table.loc[1, "speaker"] == "face:0"
    assert table.loc[0, "caption_backend"] == "signals" and table.loc[1, "branches"] == "null,text,full"
    for path in table["output"]:
        assert path.startswith("data/07_model_output/videos/")
        with av.open(str(project / path)) as container:
            assert container.streams.audio[0].rate == 16_000
            assert sum(1 for _ in container.decode(video=0)) == 50


@pytest.mark.slow
def test_kedro_run_generate_on_the_tiny_corpus(tmp_path, tiny_corpus):
    """`kedro run --pipeline=generate --env=tiny` on the generated tiny corpus and a tiny stage-3 folder."""
    project = make_project(tmp_path / "project", tiny_corpus)
    write_model_folder(project / "data/06_models/stage3", 3)
    run_kedro(project, "generate")
    table = pd.read_parquet(project / "data/07_model_output/generated.parquet")
    assert (table["status"] == "ok").all() and len(table) == 2 and (table["frames"] == 50).all()
    assert all((project / p).is_file() for p in table["output"])
