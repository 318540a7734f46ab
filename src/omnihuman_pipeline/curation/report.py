"""The curation summary (counts, hours, rejections) and its funnel plot."""

from __future__ import annotations

from typing import Any

import pandas as pd

from omnihuman_pipeline.media.errors import USABLE
from omnihuman_pipeline.scoring.eligibility import primary_reason_counts, reason_counts

SECONDS_PER_HOUR = 3600.0


def _hours(seconds: float) -> float:
    return round(float(seconds) / SECONDS_PER_HOUR, 6)


def _mask(clips: pd.DataFrame, name: str) -> pd.Series:
    column = f"eligible_{name}"
    return clips[column].astype(bool) if column in clips else pd.Series(False, index=clips.index)


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
    ok = videos["status"].isin(USABLE)
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
    masks = {name: _mask(clips, name) for name in classes}
    if "A" in masks and "P" in masks:
        masks["A&P"] = masks["A"] & masks["P"]
    for name, mask in masks.items():
        summary["clips"][name] = {
            "count": int(mask.sum()),
            "hours": _hours(clip_s[mask].sum()),
            "share_of_hours": round(float(clip_s[mask].sum() / clip_s.sum()), 4) if clip_s.sum() else 0.0,
        }
    summary["rejections"] = reason_counts(clips["reasons"]) if "reasons" in clips else {}
    summary["rejections_primary"] = primary_reason_counts(clips) if "reasons" in clips else {}
    if timings:
        summary["timings_s"] = {k: round(v, 3) for k, v in sorted(timings.items())}
    return summary


def funnel_figure(summary: dict[str, Any], classes: tuple[str, ...] = ("T",)):
    """Horizontal bars: hours of input, of clips, and of each eligibility class; top rejections beside."""
    import matplotlib.pyplot as plt

    stages = [("input videos", summary["videos"]["hours_in"]), ("scene clips", summary["clips"]["hours"])]
    names = [c for c in (*classes, "A&P") if c in summary["clips"]]
    stages += [(f"eligible {c}", summary["clips"][c]["hours"]) for c in names]
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
    labels, hours = zip(*stages, strict=True)
    minutes = [h * 60 for h in hours]
    bars = ax.barh(labels[::-1], minutes[::-1], color=["#4C72B0"] * len(names) + ["#8C8C8C", "#BBBBBB"])
    for bar, value in zip(bars, minutes[::-1], strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.1f} min", va="center")
    ax.set_xlabel("minutes of video")
    ax.set_title("curation funnel")
    ax.margins(x=0.25)
    # what removed clips: the T filters first, then A/P rules on the clips T kept
    top = list((summary.get("rejections_primary") or summary.get("rejections", {})).items())[:8]
    if top:
        names, counts = zip(*top, strict=True)
        ax_r.barh(list(names)[::-1], list(counts)[::-1], color="#C44E52")
        ax_r.set_xlabel("clips rejected")
        ax_r.set_title("rejection reasons (T filters, then A/P on T clips)")
    else:
        ax_r.axis("off")
    fig.tight_layout()
    return fig


def score_histograms(clips: pd.DataFrame, rules: dict[str, dict[str, dict[str, Any]]]):
    """One histogram per numeric rule column, T-eligible clips stacked on the rest, thresholds drawn."""
    import matplotlib.pyplot as plt

    columns: dict[str, dict[str, Any]] = {}
    for rule_set in rules.values():
        for column, bounds in rule_set.items():
            if column in clips and pd.api.types.is_numeric_dtype(clips[column]) and clips[column].dtype != bool:
                columns.setdefault(column, {}).update(bounds)
    n = max(1, len(columns))
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax, (column, bounds) in zip(axes.flat, columns.items(), strict=False):
        values = clips[column].astype(float)
        finite = values[values.notna()]
        if finite.empty:
            ax.set_title(f"{column} (no values)")
            continue
        ok = _mask(clips, "T").reindex(values.index, fill_value=False)
        bins = min(30, max(5, len(finite) // 2))
        ax.hist([finite[ok[finite.index]], finite[~ok[finite.index]]], bins=bins, stacked=True,
                color=["#4C72B0", "#C8C8C8"], label=["eligible T", "other"])
        for key, style in (("min", "--"), ("max", "--"), ("abs_max", ":")):
            if bounds.get(key) is not None:
                for x in ([bounds[key], -bounds[key]] if key == "abs_max" else [bounds[key]]):
                    ax.axvline(x, color="#C44E52", linestyle=style, linewidth=1.5)
        ax.set_title(column, fontsize=10)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("clip scores and thresholds (red)", fontsize=11)
    fig.tight_layout()
    return fig


def clip_gallery(clips: pd.DataFrame, groups: dict[str, pd.Series], per_group: int = 4,
                 columns: tuple[str, ...] = ("motion", "quality", "aesthetic", "person"), root: str = "."):
    """A grid: one row per group (e.g. eligible T / rejected), a few clips each with their scores.

    Args:
        clips: the clips table (with `media_path`, or the source span of clips without media).
        groups: row label → boolean mask over `clips`.
        per_group: clips shown per row (the first ones in table order).
        columns: scores printed under each frame.
        root: folder the table's paths are relative to (the project root).
    """

    import matplotlib.pyplot as plt

    from omnihuman_pipeline.media.clip_source import clip_middle_frame

    fig, axes = plt.subplots(len(groups), per_group, figsize=(2.9 * per_group, 2.9 * len(groups)), squeeze=False)
    for row_axes, (label, mask) in zip(axes, groups.items(), strict=True):
        chosen = clips[mask].head(per_group).to_dict("records")
        for ax, clip in zip(row_axes, chosen + [None] * (per_group - len(chosen)), strict=True):
            ax.axis("off")
            if clip is None:
                continue
            ax.imshow(clip_middle_frame(clip, short_side=160, root=root))
            scores = ", ".join(f"{c}={clip[c]:.2g}" for c in columns if c in clip and pd.notna(clip[c]))
            reasons = ", ".join(list(clip.get("reasons", []))) or "-"
            ax.set_title(f"{label}\n{scores}\nreasons: {reasons}", fontsize=7)
    fig.tight_layout()
    return fig
