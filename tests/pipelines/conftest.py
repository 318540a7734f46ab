"""A throwaway Kedro project (this repo's conf + a generated corpus) to run pipelines end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from omnihuman_pipeline.corpus.generate import generate_corpus

REPO = Path(__file__).resolve().parents[2]
LAYERS = ["01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting"]


def make_project(root: Path, raw: Path | None = None) -> Path:
    """Copy pyproject and conf into `root`, create the data layers, and copy `raw` into 01_raw."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir(exist_ok=True)  # kedro wants a source folder; the package itself is installed
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"), dirs_exist_ok=True)
    (root / "conf" / "local").mkdir(exist_ok=True)
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True, exist_ok=True)
    if raw is not None:
        shutil.copytree(raw, root / "data" / "01_raw", dirs_exist_ok=True)
    return root


def kedro_env() -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
            "PYTHONPATH": str(REPO / "src")}


def kedro_command(pipeline: str, env: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "kedro", "run", f"--pipeline={pipeline}", f"--env={env}"]


def run_kedro(project: Path, pipeline: str, env: str = "tiny", timeout: float = 600) -> subprocess.CompletedProcess:
    """`kedro run` in `project`; fail the test with Kedro's output when it fails."""
    proc = subprocess.run(kedro_command(pipeline, env), cwd=project, env=kedro_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def read_tables(project: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    videos = pd.read_parquet(project / "data/02_intermediate/videos.parquet")
    clips = pd.read_parquet(project / "data/03_primary/clips.parquet")
    summary = json.loads((project / "data/08_reporting/curate_summary.json").read_text())
    return videos, clips, summary


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The `tiny` ground-truth corpus, generated once per test session."""
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, profile="tiny", seed=0)
    return out


@pytest.fixture(scope="session")
def ground_truth(tiny_corpus) -> dict[str, dict]:
    return {v["relpath"]: v for v in json.loads((tiny_corpus / "ground_truth.json").read_text())["videos"]}


@pytest.fixture(scope="session")
def curated_project(tmp_path_factory, tiny_corpus) -> Path:
    """A project whose curate pipeline ran once, uninterrupted, on the tiny corpus."""
    project = make_project(tmp_path_factory.mktemp("project"), tiny_corpus)
    run_kedro(project, "curate")
    return project
