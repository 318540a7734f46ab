"""Misspelled runtime parameters and rules on unknown columns are one error naming the closest valid names."""

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
    clips = pd.DataFrame({"motion": [0.5], "motion_jitter": [0.1]})
    with pytest.raises(KeyError, match=r"rule T\.motoin: the clip table has no column 'motoin' \(closest: motion"):
        assign_eligibility(clips, {"T": {"motoin": {"min": 0.01}}}, base="T")


def test_a_session_with_a_misspelled_param_stops_with_one_line():
    """The project's hook turns the error into SystemExit('error: ...'): kedro run prints one line, exit status 1."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(REPO)
    with KedroSession.create(project_path=REPO, env="tiny", runtime_params={"medai.write_clips": "all"}) as session:
        with pytest.raises(SystemExit, match=r"^error: unknown parameter: medai\.write_clips \(closest: media"):
            session.load_context()
