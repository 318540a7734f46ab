"""The curation summary (counts, hours, rejections) and its funnel plot."""

from __future__ import annotations

from typing import Any

import pandas as pd

from omnihuman_pipeline.scoring.eligibility import reason_counts

SECONDS_PER_HOUR = 3600.0


def _hours(seconds: float) -> float:
    return round(float(seconds) / SECONDS_PER_HOUR, 6)


def summarize(videos: pd.DataFrame, clips: pd.DataFrame, timings: dict[str, float] | None = None,
              classes: tuple[str, ...] = ("T",)) -> dict[str, Any]:
    """Counts and hours from input files to eligible clips, with per-reason and per-status tallies.

    Args:
        videos: the `videos` table.
        clips: the `clips` table with `eligible_*` and `reasons`.
        timings: summed seconds per processing stage of this run (optional).
        classes: eligibility classes to report (`eligible_<c>` columns).

    Returns:
        A JSON-serialisable dict (see `curate_summary.json`).
    """
    ok = videos["status"].isin(["ok", "truncated"])
    clip_s = clips["duration_s"] if len(clips) else pd.Series(dtype=float)
    summary: dict[str, Any] = {
        "videos": {
            "files": int(len(videos)),
            "usable": int(ok.sum()),
            "hours_in": _hours(videos.loc[ok, "duration_s"].fillna(0).sum()),
            "by_status": {k: int(v) for k, v in videos["status"].value_counts().sort_index().items()},
        },
        "clips": {"count": int(len(clips)), "hours": _hours(clip_s.sum())},
    }
    for name in classes:
        column = f"eligible_{name}"
        mask = clips[column].astype(bool) if column in clips else pd.Series(False, index=clips.index)
        summary["clips"][name] = {
            "count": int(mask.sum()),
            "hours": _hours(clip_s[mask].sum()),
            "share_of_hours": round(float(clip_s[mask].sum() / clip_s.sum()), 4) if clip_s.sum() else 0.0,
        }
    summary["rejections"] = reason_counts(clips["reasons"]) if "reasons" in clips else {}
    if timings:
        summary["timings_s"] = {k: round(v, 3) for k, v in sorted(timings.items())}
    return summary


def funnel_figure(summary: dict[str, Any], classes: tuple[str, ...] = ("T",)):
    """Horizontal bars: hours of input, of clips, and of each eligibility class; top rejections beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [("input videos", summary["videos"]["hours_in"]), ("scene clips", summary["clips"]["hours"])]
    stages += [(f"eligible {c}", summary["clips"][c]["hours"]) for c in classes]
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
    labels, hours = zip(*stages, strict=True)
    minutes = [h * 60 for h in hours]
    bars = ax.barh(labels[::-1], minutes[::-1], color=["#4C72B0"] * len(classes) + ["#8C8C8C", "#BBBBBB"])
    for bar, value in zip(bars, minutes[::-1], strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.1f} min", va="center")
    ax.set_xlabel("minutes of video")
    ax.set_title("curation funnel")
    ax.margins(x=0.25)
    top = list(summary.get("rejections", {}).items())[:8]
    if top:
        names, counts = zip(*top, strict=True)
        ax_r.barh(list(names)[::-1], list(counts)[::-1], color="#C44E52")
        ax_r.set_xlabel("clips rejected")
        ax_r.set_title("top rejection reasons")
    else:
        ax_r.axis("off")
    fig.tight_layout()
    return fig
