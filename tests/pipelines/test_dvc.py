"""`dvc repro` in a fresh git repo runs the Kedro pipelines in DAG order and tracks their outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.conftest import REPO, kedro_env

PROJECT_FILES = ["pyproject.toml", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config",
                 ".dvc/.gitignore", ".telemetry"]


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def _dvc(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**kedro_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_dvc_repro_in_a_git_repo(tmp_path, tiny_corpus):
    """`dvc repro features` runs curate then features, records their outputs in dvc.lock; they are then up to date."""
    project = tmp_path / "repo"
    for name in PROJECT_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for rel in ["multi/three_scenes.mp4", "single/static_person.mp4", "bad/empty.mp4"]:
        (project / "data/01_raw" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_corpus / rel, project / "data/01_raw" / rel)
    (project / "params.yaml").write_text("profile: tiny\n")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "init")

    _dvc(project, "repro", "features")
    lock = (project / "dvc.lock").read_text()
    for out in ["data/03_primary/clips.parquet", "data/02_intermediate/videos.parquet",
                "data/08_reporting/curate_summary.json", "data/04_feature/features.parquet",
                "data/04_feature/shards"]:
        assert (project / out).exists() and out in lock
    summary = json.loads((project / "data/08_reporting/curate_summary.json").read_text())
    assert summary["videos"]["files"] == 3 and summary["clips"]["count"] == 4
    assert "up to date" in _dvc(project, "status", "features").stdout
    metrics = _dvc(project, "metrics", "show", "--json").stdout
    assert "curate_summary.json" in metrics
