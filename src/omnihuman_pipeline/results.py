"""Where the lifecycle's results are, with a line on each: ``python -m omnihuman_pipeline.results [project]``.

Reads only the files the pipelines wrote (paths as the catalog declares them); a missing one is listed
as not written yet, with the command that writes it. A result older than what it was made from (new raw
videos after the clip table, a clip table newer than the features, a stage retrained after the next one, ...)
is marked ``STALE`` with the command that brings it up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STAGES = ("stage1", "stage2", "stage3")


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _losses(report: dict[str, Any] | None) -> str:
    losses = (report or {}).get("val_loss") or {}
    return ", ".join(f"{k.removeprefix('loss_')} {v:.3f}" for k, v in losses.items() if k != "loss")


def _mtime(path: Path) -> float:
    """Newest modification time of a file, or of a folder and everything under it (0 when missing).

    Folders count too: adding or removing a file changes its folder's time even when a copy keeps the
    file's own (``cp -p``, ``mv``)."""
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_mtime
    return max([path.stat().st_mtime, *(p.lstat().st_mtime for p in path.rglob("*"))])


def _stale(data: Path, output: str, inputs: tuple[str, ...], command: str) -> str:
    """`` STALE (older than <input>; <command>)`` when ``output`` is older than one of ``inputs``, else ``""``."""
    made = _mtime(data / output)
    newer = [i for i in inputs if made and _mtime(data / i) > made]
    return f"  STALE: older than data/{newer[0]}; run {command}" if newer else ""


# each result, what it is made from and the command that remakes it
LINEAGE = {
    "03_primary/clips.parquet": (("01_raw",), "kedro run --pipeline=curate"),
    "04_feature/features.parquet": (("03_primary/clips.parquet",), "kedro run --pipeline=features"),
    "06_models/stage1/model.safetensors": (("04_feature/features.parquet",), "kedro run --pipeline=train"),
    "06_models/stage2/model.safetensors": (("06_models/stage1/model.safetensors",), "kedro run --pipeline=train"),
    "06_models/stage3/model.safetensors": (("06_models/stage2/model.safetensors",), "kedro run --pipeline=train"),
    "07_model_output/videos": (("06_models/stage3/model.safetensors",), "kedro run --pipeline=generate"),
    "08_reporting/eval_table.md": (("06_models/stage3/model.safetensors",), "kedro run --pipeline=evaluate"),
    "08_reporting/ablation_principle1.md": (("06_models/stage1/model.safetensors",),
                                            "kedro run --pipeline=ablation_principle1"),
    "08_reporting/ablation_principle2.md": (("06_models/stage1/model.safetensors",),
                                            "kedro run --pipeline=ablation_principle2"),
}


def result_lines(root: Path) -> list[str]:
    """One or two lines per result: path, then what it holds (or the command that makes it)."""
    data = root / "data"

    def stale(output: str) -> str:
        inputs, command = LINEAGE[output]
        return _stale(data, output, inputs, command)

    lines = []
    summary = _json(data / "08_reporting/curate_summary.json")
    if summary:
        c = summary["clips"]
        counts = ", ".join(f"{k} {v['count']}" for k, v in c.items() if isinstance(v, dict))
        lines.append(f"  clip table    data/03_primary/clips.parquet: {c['count']} clips ({counts}); "
                     "funnel in data/08_reporting/curate_funnel.png" + stale("03_primary/clips.parquet"))
    else:
        lines.append("  clip table    not written yet: kedro run --pipeline=curate")
    features = _json(data / "08_reporting/features_summary.json")
    lines.append(f"  features      data/04_feature/: {features['ok']} clips cached"
                 + stale("04_feature/features.parquet") if features
                 else "  features      not written yet: kedro run --pipeline=features")
    for stage in STAGES:
        report = _json(data / "06_models" / stage / "report.json")
        lines.append(f"  checkpoint    data/06_models/{stage}/ (model.safetensors, last.ckpt): {report['steps']} steps, "
                     f"validation loss {_losses(report)}" + stale(f"06_models/{stage}/model.safetensors") if report
                     else f"  checkpoint    data/06_models/{stage}/ not trained yet: kedro run --pipeline=train")
    videos = sorted((data / "07_model_output/videos").glob("*.mp4"))
    lines.append(f"  generated     {videos[0].relative_to(root)}" + (f" (+{len(videos) - 1} more)" if len(videos) > 1
                                                                     else "") + stale("07_model_output/videos")
                 + _face_note(data / "07_model_output/generated.parquet")
                 if videos
                 else "  generated     no video yet: kedro run --pipeline=generate")
    table = data / "08_reporting/eval_table.md"
    lines.append("  evaluation    data/08_reporting/eval_table.md (+ eval_metrics.json, eval_strips.png)"
                 + stale("08_reporting/eval_table.md") if table.is_file()
                 else "  evaluation    not written yet: kedro run --pipeline=evaluate")
    for n in (1, 2):
        name = f"ablation_principle{n}"
        lines.append(f"  ablation      data/08_reporting/{name}.md (+ .json, .png)" + stale(f"08_reporting/{name}.md")
                     if (data / f"08_reporting/{name}.md").is_file()
                     else f"  ablation      not written yet: kedro run --pipeline={name}")
    lines.append("  notebooks     notebooks/curation_report.ipynb, notebooks/ablation_report.ipynb (read the catalog)")
    return lines


def _face_note(table: Path) -> str:
    """What the generation's face check found (``generated.parquet: face_share``), said plainly when it is no face."""
    if not table.is_file():
        return ""
    import pandas as pd

    rows = pd.read_parquet(table)
    if "face_share" not in rows:
        return ""
    shares = rows.loc[rows["status"] == "ok", "face_share"].dropna()
    if shares.empty:
        return ""
    found = f"; FaceMesh finds a face in {shares.min():.0%}–{shares.max():.0%} of their frames"
    if shares.max() < 0.5:
        found += (" (no person drawn: this model is too small or too briefly trained; the `small` profile trains one "
                  "that draws the reference person, see README Profiles)")
    return found


HEADLINE_FILE = "data/08_reporting/headline.json"


def headline(root: Path) -> dict[str, Any]:
    """The few numbers that compare experiments (``dvc exp show --only-changed`` at a terminal's width).

    Returns:
        ``{"clips": {"T", "A", "P"}, "val_loss": {"stage1", "stage2", "stage3"}, "eval": {"<method>.<metric>"}}``;
        what is not written yet is left out.
    """
    data = root / "data"
    out: dict[str, Any] = {}
    summary = _json(data / "08_reporting/curate_summary.json")
    if summary:
        out["clips"] = {k: summary["clips"][k]["count"] for k in ("T", "A", "P") if k in summary["clips"]}
    losses = {stage: round(float(r["val_loss"]["loss"]), 4) for stage in STAGES
              if (r := _json(data / "06_models" / stage / "report.json")) and "loss" in (r.get("val_loss") or {})}
    if losses:
        out["val_loss"] = losses
    evaluation = (_json(data / "08_reporting/eval_summary.json") or {}).get("validation") or {}
    values = {f"{method}.{metric}": round(float(v), 4) for method, metrics in evaluation.items()
              if method != "Ref Img" for metric, v in metrics.items() if v == v}
    if values:
        out["eval"] = values
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--headline"]:  # the DVC stage that writes the compact metrics file
        root = Path(args[2] if len(args) > 2 else ".").resolve()
        target = root / (args[1] if len(args) > 1 else HEADLINE_FILE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(headline(root), indent=1) + "\n")
        return 0
    root = Path((args or ["."])[0]).resolve()
    print("Results:\n" + "\n".join(result_lines(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
