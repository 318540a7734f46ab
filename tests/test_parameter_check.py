"""First-day mistakes, one line each: misspelled parameters and rule columns (with the closest valid names), unknown
profiles, pipelines and stages, inputs not written yet, an empty raw folder, missing weights; the funnel's causes."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from omnihuman_pipeline.parameter_check import UnknownParameterError, check_runtime_params
from omnihuman_pipeline.scoring.eligibility import assign_eligibility
from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS
from tests.pipelines.conftest import REPO


@pytest.fixture(scope="module")
def tiny_params() -> dict:
    return OmegaConfigLoader(str(REPO / "conf"), env="tiny", **CONFIG_LOADER_ARGS)["parameters"]


@pytest.mark.parametrize(("runtime", "closest"), [
    ({"medai": {"write_clips": "all"}}, "media.write_clips"),
    ({"media.write_clip": "all"}, "media.write_clips"),
    ({"train": {"optimizer": {"lrr": 1e-3}}}, "train.optimizer.lr"),
])
def test_a_misspelled_key_names_the_closest_defined_ones(tiny_params, runtime, closest):
    """`--params=medai.write_clips=all` and friends fail before anything runs, naming what was meant."""
    with pytest.raises(UnknownParameterError, match=rf"unknown parameter: .* \(closest: [^)]*{closest}"):
        check_runtime_params(runtime, tiny_params)


def test_defined_keys_and_open_mappings_pass(tiny_params):
    """Defined keys, any key under an open mapping (model overrides) and rule bounds pass."""
    check_runtime_params({"media.write_clips": "all", "train.model.overrides.hidden_size": 64,
                          "train.ratios.pose": 0.3, "eligibility.rules.T.motion.min": 0.01}, tiny_params)


def test_a_rule_on_an_unknown_column_names_the_closest_columns():
    """`eligibility.rules.T.motoin.min` is an error naming `motion`, not every clip rejected with `motoin:missing`."""
    clips = pd.DataFrame({"motion": [0.5], "motion_jitter": [0.1], "motion_backend": ["farneback"],
                          "sync_backend": ["mouth_envelope"], "sync_error": ["no_audio"]})
    with pytest.raises(KeyError, match=r"rule T\.motoin: the clip table has no column 'motoin' \(closest: motion"):
        assign_eligibility(clips, {"T": {"motoin": {"min": 0.01}}}, base="T")
    # a scorer that produced no value column on this corpus (no audio anywhere) is not a typo
    out = assign_eligibility(clips, {"T": {"motion": {"min": 0.1}}, "A": {"sync_offset": {"abs_max": 3}}}, base="T")
    assert out.loc[0, "reasons"] == ["A:sync:no_audio"] and not out.loc[0, "eligible_A"]


def test_a_session_with_a_misspelled_param_stops_with_one_line():
    """The project's hook turns the error into SystemExit('error: ...'): kedro run prints one line, exit status 1."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(REPO)
    with KedroSession.create(project_path=REPO, env="tiny", runtime_params={"medai.write_clips": "all"}) as session:
        with pytest.raises(SystemExit, match=r"^error: unknown parameter: medai\.write_clips \(closest: media"):
            session.load_context()


def test_training_before_features_names_the_pipeline_to_run_first(tmp_path, monkeypatch):
    """The train pipeline on a project without clips and features stops with one line: run curate, then features."""
    import shutil

    from kedro.io import DataCatalog

    from omnihuman_pipeline.parameter_check import MissingInputsHook
    from omnihuman_pipeline.pipelines.train.pipeline import create_pipeline

    shutil.copytree(REPO / "conf", tmp_path / "conf")  # a project folder without data
    monkeypatch.chdir(tmp_path)
    config = OmegaConfigLoader(str(tmp_path / "conf"), env="tiny", **CONFIG_LOADER_ARGS)
    catalog = DataCatalog.from_config(config["catalog"])
    with pytest.raises(SystemExit) as stop:
        MissingInputsHook().before_pipeline_run({}, create_pipeline(), catalog)
    message = str(stop.value)
    assert message.startswith("error: this run reads what is not there yet:") and "\n" not in message
    assert "clips (data/03_primary/clips.parquet): run `kedro run --pipeline=curate` first" in message
    assert "features (data/04_feature/features.parquet): run `kedro run --pipeline=features` first" in message
    assert "feature_store" not in message  # stores a pipeline fills in place may be absent
    assert "pretrained_t2v" not in message  # optional weights are not an input that must exist


def test_unknown_env_and_pipeline_names_list_the_valid_ones():
    """`kedro run --env=tinyy` and `--pipeline=curat` are one line each with the choices, before Kedro starts."""
    from omnihuman_pipeline.cli import check_run_args

    conf = REPO / "conf"
    assert check_run_args("tiny", ["curate", "train"], conf) is None
    env = check_run_args("tinyy", ["curate"], conf)
    assert env.startswith("error: unknown --env 'tinyy'; profiles in") and "small, tiny" in env
    pipe = check_run_args(None, ["curat"], conf)
    assert pipe.startswith("error: unknown pipeline 'curat' (did you mean curate?); pipelines: __default__")


def test_training_entry_refuses_an_unknown_stage_with_the_list(monkeypatch):
    """`python -m omnihuman_pipeline.training --stage stag2` lists the stages before loading any data."""
    from omnihuman_pipeline.training.__main__ import LAUNCHER_ENV, main

    monkeypatch.setenv(LAUNCHER_ENV, "module")  # main() sets it for its process; restored after the test

    with pytest.raises(SystemExit, match=r"unknown --stage 'stag2' in pipeline train; stages: stage1, stage2, stage3"):
        main(["--stage", "stag2", "--env", "tiny", "--project", str(REPO)])


def test_an_empty_raw_folder_is_one_line_saying_what_to_put_there(tmp_path):
    """Curating an empty data/01_raw stops with what to do, not a KeyError in the merge."""
    from omnihuman_pipeline.curation.run import run_curation

    with pytest.raises(SystemExit, match=r"holds no video file .* `make corpus`"):
        run_curation([], None, None, {})


def test_a_real_backend_without_weights_stops_before_any_worker(tmp_path, monkeypatch):
    """SyncNet configured without its file: one line naming the file and the setting, from the main process."""
    from omnihuman_pipeline.curation.config import CurateConfig
    from omnihuman_pipeline.curation.run import run_curation

    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_SYNCNET", raising=False)
    monkeypatch.chdir(tmp_path)  # no conf/local/weights.yml here
    config = CurateConfig.from_params({}, {}, {"sync": {"backend": "syncnet"}}, str(tmp_path / "clips"), 2.0)
    with pytest.raises(SystemExit, match=r"^error: .*syncnet_v2\.model") as stop:
        run_curation(["x.mp4"], None, config, {"name": "local", "workers": 2})
    assert "\n" not in str(stop.value)


def test_a_fresh_project_with_raw_videos_may_curate(tmp_path, monkeypatch):
    """Curate's own stores and folders do not exist before its first run: the input check lets it start."""
    import shutil

    from kedro.io import DataCatalog

    from omnihuman_pipeline.parameter_check import MissingInputsHook
    from omnihuman_pipeline.pipelines.curate.pipeline import create_pipeline

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    (tmp_path / "data/01_raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(OmegaConfigLoader(str(tmp_path / "conf"), env="tiny", **CONFIG_LOADER_ARGS)["catalog"])
    MissingInputsHook().before_pipeline_run({}, create_pipeline(), catalog)


def test_the_funnel_counts_what_removed_clips_primary_causes_first():
    """T reasons over all clips come first; A/P reasons only count on clips T kept."""
    from omnihuman_pipeline.scoring.eligibility import primary_reason_counts

    clips = pd.DataFrame({"eligible_T": [False, False, True], "eligible_A": [False, False, False],
                          "reasons": [["motion<0.15", "A:no_audio"], ["person<0.5", "A:no_audio"], ["A:sync_conf<2.5"]]})
    assert list(primary_reason_counts(clips).items()) == [("motion<0.15", 1), ("person<0.5", 1), ("A:sync_conf<2.5", 1)]
