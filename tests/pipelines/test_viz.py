"""`kedro viz build` renders every registered pipeline (the static site kedro-viz serves)."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO, kedro_env, make_project


def test_kedro_viz_build_shows_every_pipeline(tmp_path):
    """Each package under pipelines/ appears in the built site's pipeline list, with __default__."""
    project = make_project(tmp_path / "viz")
    proc = subprocess.run([sys.executable, "-m", "kedro", "viz", "build"], cwd=project, env=kedro_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    shown = {p["id"] for p in json.loads((project / "build/api/main").read_text())["pipelines"]}
    packages = {p.name for p in (REPO / "src/omnihuman_pipeline/pipelines").iterdir()
                if p.is_dir() and (p / "pipeline.py").is_file()}
    assert shown == packages | {"__default__"}
