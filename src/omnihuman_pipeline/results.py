"""Where the lifecycle's results are, with a line on each: ``python -m omnihuman_pipeline.results [project]``.

Reads only the files the pipelines wrote (paths as the catalog declares them); a missing one is listed
as not written yet, with the command that writes it.
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


def result_lines(root: Path) -> list[str]:
    """One or two lines per result: path, then what it holds (or the command that makes it)."""
    data = root / "data"
    lines = []
    summary = _json(data / "08_reporting/curate_summary.json")
    if summary:
        c = summary["clips"]
        counts = ", ".join(f"{k} {v['count']}" for k, v in c.items() if isinstance(v, dict))
        lines.append(f"  clip table    data/03_primary/clips.parquet: {c['count']} clips ({counts}); "
                     "funnel in data/08_reporting/curate_funnel.png")
    else:
        lines.append("  clip table    not written yet: kedro run --pipeline=curate")
    features = _json(data / "08_reporting/features_summary.json")
    lines.append(f"  features      data/04_feature/: {features['ok']} clips cached" if features
                 else "  features      not written yet: kedro run --pipeline=features")
    for stage in STAGES:
        report = _json(data / "06_models" / stage / "report.json")
        lines.append(f"  checkpoint    data/06_models/{stage}/ (model.safetensors, last.ckpt): {report['steps']} steps, "
                     f"validation loss {_losses(report)}" if report
                     else f"  checkpoint    data/06_models/{stage}/ not trained yet: kedro run --pipeline=train")
    videos = sorted((data / "07_model_output/videos").glob("*.mp4"))
    lines.append(f"  generated     {videos[0].relative_to(root)}" + (f" (+{len(videos) - 1} more)" if len(videos) > 1
                                                                     else "") if videos
                 else "  generated     no video yet: kedro run --pipeline=generate")
    table = data / "08_reporting/eval_table.md"
    lines.append("  evaluation    data/08_reporting/eval_table.md (+ eval_metrics.json, eval_strips.png)" if table.is_file()
                 else "  evaluation    not written yet: kedro run --pipeline=evaluate")
    for n in (1, 2):
        name = f"ablation_principle{n}"
        lines.append(f"  ablation      data/08_reporting/{name}.md (+ .json, .png)" if (data / f"08_reporting/{name}.md").is_file()
                     else f"  ablation      not written yet: kedro run --pipeline={name}")
    lines.append("  notebooks     notebooks/curation_report.ipynb, notebooks/ablation_report.ipynb (read the catalog)")
    return lines


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:] or ["."])[0]).resolve()
    print("Results:\n" + "\n".join(result_lines(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
