"""A throwaway Kedro project whose features are a synthetic cache, for running the training entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from tests.pipelines.conftest import kedro_env, make_project

SPECS = [ClipSpec("va", A=True, P=True), ClipSpec("vb", A=True), ClipSpec("vc", P=True), ClipSpec("vd"),
         ClipSpec("ve", A=True, P=True), ClipSpec("vf", P=True), ClipSpec("vg")]


def synthetic_project(root: Path, train: dict | None = None, stages: dict | None = None,
                      specs: list[ClipSpec] = SPECS) -> Path:
    """A project with a 7-clip synthetic feature cache, a clips table and ``conf/tiny`` training overrides."""
    project = make_project(root)
    index, _ = make_cache(project / "data/04_feature", specs, clips_per_shard=1, marked=False)
    index.to_parquet(project / "data/04_feature/features.parquet")
    pd.DataFrame({"clip_id": index["clip_id"], "reasons": [[] for _ in range(len(index))]}).to_parquet(
        project / "data/03_primary/clips.parquet")
    conf = project / "conf/tiny/parameters_train.yml"
    params = yaml.safe_load(conf.read_text())
    params["train"] = _merge(params["train"], {"trainer": {"progress_bar": False}, **(train or {})})
    for name, values in (stages or {}).items():
        params[name] = _merge(params.get(name, {}), values)
    conf.write_text(yaml.safe_dump(params))
    return project


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def entry_command(stage: str, project: Path, env: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "omnihuman_pipeline.training", "--stage", stage, "--env", env,
            "--project", str(project)]


def run_entry(stage: str, project: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(entry_command(stage, project), cwd=project, env=kedro_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def logged(project: Path, stage: str, metric: str = "train/loss") -> dict[int, float]:
    """step -> value of a DVCLive metric (the last value written for a step wins)."""
    table = pd.read_csv(project / "data/08_reporting/train" / stage / "plots/metrics" / f"{metric}.tsv", sep="\t")
    return {int(s): float(v) for s, v in zip(table["step"], table[metric.split("/")[-1]], strict=True)}


__all__ = ["entry_command", "kedro_env", "logged", "run_entry", "synthetic_project"]
