"""The whole lifecycle under `dvc repro` (tiny profile) in a fresh git repo.

curate -> features -> train_stage1..3 -> generate -> evaluate, and both ablations: the first `dvc repro` runs
every stage, the second none; changing one training ratio (`dvc exp run -S`) reruns exactly the stages that
read it; `dvc exp show` lists the experiment; the ablation report notebook then runs on the outputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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


STAGES = ["curate", "features", "train_stage1", "train_stage2", "train_stage3", "generate", "evaluate",
          "ablation_principle1", "ablation_principle2", "headline"]
# what the generate jobs, evaluation and training need: talking heads (A), a two-person clip (speaker job), a
# multi-scene and a hands video (P), no-person and broken files (rejected with reasons)
CORPUS = ["talking/synced_0.mp4", "talking/audio_early_3.mp4", "talking/audio_late_3.mp4", "talking/two_person.mp4",
          "multi/three_scenes.mp4", "single/half_body_hand.mp4", "single/no_person_coffee.webm", "bad/empty.mp4"]


def ran_stages(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` executed, in order."""
    return re.findall(r"Running stage '([\w-]+)'", output)


def git_project(root: Path, corpus: Path) -> Path:
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for rel in CORPUS:
        (root / "data/01_raw" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / rel, root / "data/01_raw" / rel)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


@pytest.mark.slow
@pytest.mark.timeout(3000)  # ~7 min of DAG then ~3 min of experiment on 2 free cores
def test_whole_lifecycle_under_dvc_repro(tmp_path, tiny_corpus, monkeypatch):
    project = git_project(tmp_path / "repo", tiny_corpus)
    assert "profile: tiny" in (project / "params.yaml").read_text()  # a fresh clone's `dvc repro` is the demo

    first = _dvc(project, "repro", timeout=1800).stdout
    assert sorted(ran_stages(first)) == sorted(STAGES)
    lock = (project / "dvc.lock").read_text()
    assert all(f"  {stage}:" in lock for stage in STAGES)
    for out in ["data/03_primary/clips.parquet", "data/04_feature/features.parquet",
                "data/06_models/stage3/model.safetensors", "data/07_model_output/generated.parquet",
                "data/08_reporting/eval_table.md", "data/08_reporting/eval_summary.json",
                "data/08_reporting/ablation_principle1.md", "data/08_reporting/ablation_principle2.json",
                "data/08_reporting/ablation_principle2.png"]:
        assert (project / out).is_file(), out
    assert list((project / "data/07_model_output/videos").glob("*.mp4"))
    summary = json.loads((project / "data/08_reporting/curate_summary.json").read_text())
    assert summary["videos"]["files"] == 8 and summary["clips"]["count"] == 9
    assert summary["clips"]["T"]["count"] == 7 and summary["clips"]["A"]["count"] == 3  # synced and +-3 frames
    metrics = _dvc(project, "metrics", "show", "--json").stdout
    assert all(m in metrics for m in ("curate_summary.json", "stage3/report.json", "eval_summary.json"))
    report = json.loads((project / "data/08_reporting/ablation_principle2.json").read_text())
    assert list(report["variants"]) == ["IA", "IPA", "IAP_A_lt_P", "IAP_A_gt_P"]
    assert "IAP, A>P" in (project / "data/08_reporting/ablation_principle2.md").read_text()

    _git(project, "add", "-A")  # as a user would: the lock (and DVC's .gitignore files) go into git
    _git(project, "commit", "-qm", "tiny lifecycle")
    again = _dvc(project, "repro").stdout
    assert ran_stages(again) == [], again[-2000:]

    # the pose ratio is read by stage 3 (and so generate and evaluate) and by the Principle 2 ablation only
    exp = _dvc(project, "exp", "run", "-S", "conf/base/parameters_train.yml:train.ratios.pose=0.3").stdout
    assert sorted(ran_stages(exp)) == ["ablation_principle2", "evaluate", "generate", "headline", "train_stage3"], \
        exp[-2000:]
    [experiment] = [e for r in json.loads(_dvc(project, "exp", "show", "--json").stdout)
                    for e in r.get("experiments") or []]
    data = experiment["revs"][0]["data"]
    assert data["params"]["conf/base/parameters_train.yml"]["data"]["train"]["ratios"]["pose"] == 0.3
    assert {"data/06_models/stage3/report.json", "data/08_reporting/eval_summary.json"} <= set(data["metrics"])
    head = data["metrics"]["data/08_reporting/headline.json"]["data"]  # the experiment row carries values
    assert head["clips"]["T"] == 7 and isinstance(head["val_loss"]["stage3"], float) and head["eval"]

    monkeypatch.setenv("OMNIHUMAN_PROJECT", str(project))
    monkeypatch.setenv("KEDRO_ENV", "tiny")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    nb = nbformat.read(project / "notebooks/ablation_report.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # one bar figure per ablation
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "0% T-Data" in markdown and "IAP, A<P" in markdown and "paper" in markdown.lower()
