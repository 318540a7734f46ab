"""Print a curate summary as a short table: `python -m omnihuman_pipeline.curation.show <summary.json>`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def format_summary(summary: dict) -> str:
    """Human-readable lines of `curate_summary.json`."""
    v, c = summary["videos"], summary["clips"]
    lines = [
        f"videos: {v['files']} files, {v['usable']} usable, {v['hours_in'] * 60:.1f} min in",
        "  by status: " + ", ".join(f"{k}={n}" for k, n in v["by_status"].items()),
        f"clips:  {c['count']} clips, {c['hours'] * 60:.1f} min",
    ]
    for name, stats in c.items():
        if isinstance(stats, dict):
            lines.append(f"  eligible {name}: {stats['count']} clips, {stats['hours'] * 60:.1f} min "
                         f"({stats['share_of_hours']:.0%} of clip time)")
    top = list(summary.get("rejections", {}).items())[:6]
    if top:
        lines.append("  top rejection reasons: " + ", ".join(f"{r} ({n})" for r, n in top))
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_summary(json.loads(Path(sys.argv[1]).read_text())))
