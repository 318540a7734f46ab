"""The evaluation's reports, as pure functions of its metric rows: JSON records, the DVC summary, the paper-style table.

The table is laid out like the paper's Tables 1-3: one row per method (``Ref Img`` first, the reference images
themselves), one column group per test set, one column per metric named with the backend that produced it (an
offline default keeps its own name, e.g. ``hkc_mediapipe``, never the real metric's). A cell that is not a value
says ``unavailable`` or ``failed`` with a footnote giving the reason (and, for a metric no video could be scored
with, how often each per-video reason occurred); ``-`` marks a metric a row has no value for by design (e.g.
FID of the reference images). The per-task validation flow-matching losses form the last group.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from omnihuman_pipeline.evaluation.run import REF_IMG, VAL_LOSS_SET

# The paper's column names for the real metrics; any other result is shown under its own name.
DISPLAY = {"iqa": "IQA", "ase": "ASE", "sync_c": "Sync-C", "sync_d": "Sync-D", "sync_offset": "Sync offset",
           "fid": "FID", "fvd": "FVD", "hkc": "HKC", "hkv": "HKV", "akd": "AKD"}
HIGHER_BETTER = {"iqa", "ase", "sync_c", "hkc", "hkc_mediapipe", "sync_conf_mouth_envelope"}
LOWER_BETTER = {"sync_d", "fid", "fvd", "akd", "akd_mediapipe", "brisque"}
# Column order within a test set: the paper's (Table 1: IQA, ASE, Sync-C, FID, FVD, HKV, HKC), each offline default
# after the real metric it stands beside; other results follow in row order.
COLUMN_ORDER = ("iqa", "ase", "brisque", "sync_c", "sync_d", "sync_offset", "sync_conf_mouth_envelope",
                "sync_offset_mouth_envelope", "sync_conf_mouth_envelope_shifted_audio", "fid", "fvd", "hkv", "hkc", "hkv_mediapipe", "hkc_mediapipe", "akd",
                "akd_mediapipe")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
DEFAULT_LABELS = {VAL_LOSS_SET: "Validation loss (flow matching)"}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _clean(value.item())
    return value


def metrics_records(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-safe dict per metric row (``eval_metrics.json``); NaN becomes null."""
    return [{k: _clean(v) for k, v in row.items()} for row in metrics.to_dict("records")]


def metrics_summary(metrics: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """``{test_set: {method: {metric: value}}}`` of the values that are ``ok`` (``eval_summary.json``, DVC metrics)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in metrics[metrics["status"] == "ok"].to_dict("records"):
        out.setdefault(row["test_set"], {}).setdefault(row["method"], {})[row["name"]] = float(row["value"])
    return out


def column_label(name: str, backend: str) -> str:
    """``IQA↑ (qalign)``: the paper's name for a real metric (else the result's own name), the direction of better,
    the backend."""
    arrow = "↑" if name in HIGHER_BETTER else "↓" if name in LOWER_BETTER or name.startswith("val_loss") else ""
    return f"{DISPLAY.get(name, name)}{arrow} ({backend})"


def _format(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if abs(value) < 10 ** (digits + 3) else f"{value:.4g}"


def _per_video_reasons(per_video: pd.DataFrame | None, row: Mapping[str, Any]) -> str:
    if per_video is None or per_video.empty:
        return ""
    mine = per_video[(per_video["test_set"] == row["test_set"]) & (per_video["method"] == row["method"])
                     & (per_video["metric"] == row["name"]) & (per_video["status"] != "ok")]
    counts = Counter(str(r).split(":")[0] for r in mine["reason"].dropna())
    return "; per video: " + ", ".join(f"{r} ×{n}" for r, n in counts.most_common()) if counts else ""


def _ordered_columns(rows: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = list(dict.fromkeys(zip(rows["name"], rows["backend"], strict=True)))
    rank = {name: i for i, name in enumerate(COLUMN_ORDER)}
    return sorted(pairs, key=lambda p: (rank.get(p[0], len(rank)), pairs.index(p)))


def metrics_table(metrics: pd.DataFrame, test_set_labels: Mapping[str, str] | None = None, *,
                  per_video: pd.DataFrame | None = None, hide: Iterable[str] = (), digits: int = 3,
                  title: str = "Evaluation") -> str:
    """The paper-style markdown table of metric rows (``eval_table.md``).

    Args:
        metrics: rows with ``test_set``, ``method``, ``name``, ``value``, ``backend``, ``status``, ``reason``, ``n``,
            ``n_videos`` (``EvalResult.metrics``).
        test_set_labels: test set -> column-group heading (and order); others follow in row order.
        per_video: the per-video rows, to count the reasons behind a ``failed`` set value.
        hide: result names left out (e.g. the sync offsets, a drift check).
        digits: decimals of a value.
        title: the heading.

    Returns:
        Markdown: a heading, a note, the table (group row, metric row, one row per method) and the footnotes.
    """
    hidden = set(hide)
    shown = metrics[~metrics["name"].isin(hidden)]
    labels = {**DEFAULT_LABELS, **(test_set_labels or {})}
    sets = [s for s in (test_set_labels or {}) if s in set(shown["test_set"])]
    sets += [s for s in dict.fromkeys(shown["test_set"]) if s not in sets and s != VAL_LOSS_SET]
    sets += [VAL_LOSS_SET] if VAL_LOSS_SET in set(shown["test_set"]) else []
    columns = [(s, name, backend) for s in sets for name, backend in _ordered_columns(shown[shown["test_set"] == s])]
    methods = [REF_IMG] if REF_IMG in set(shown["method"]) else []
    methods += [m for m in dict.fromkeys(shown["method"]) if m != REF_IMG]
    cells = {(r["test_set"], r["method"], r["name"]): r for r in shown.to_dict("records")}
    notes: dict[tuple[str, str], list[str]] = {}

    def cell(s: str, method: str, name: str, backend: str) -> str:
        row = cells.get((s, method, name))
        if row is None:
            return "-"
        if row["status"] == "ok":
            n, total = int(row["n"]), int(row["n_videos"])
            return _format(float(row["value"]), digits) + (f" ({n}/{total})" if 0 < n < total else "")
        reason = str(row["reason"]) + (_per_video_reasons(per_video, row) if row["status"] == "failed" else "")
        users = notes.setdefault((row["status"], reason), [])
        if column_label(name, backend) not in users:
            users.append(column_label(name, backend))
        return f"{row['status']}{str(list(notes).index((row['status'], reason)) + 1).translate(SUPERSCRIPT)}"

    body = [[method] + [cell(s, method, name, backend) for s, name, backend in columns] for method in methods]
    groups = ["Method"] + [labels.get(s, s) if i == 0 or columns[i - 1][0] != s else ""
                           for i, (s, _, _) in enumerate(columns)]
    lines = [f"# {title}", "",
             "Rows: methods (model folders; `(drive)` for rows not driven by audio alone) and Ref Img (the reference "
             "images). Values are means over the test videos (FID, FVD: distances between the sets); `(n/N)`: "
             "scored on n of the N test videos. 95 % bootstrap intervals: `eval_metrics.json`.", "",
             "| " + " | ".join(groups) + " |", "|" + "---|" + "---:|" * len(columns),
             "| | " + " | ".join(f"**{column_label(name, backend)}**" for _, name, backend in columns) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    if notes:
        lines += [""] + [f"- {str(i).translate(SUPERSCRIPT)} {status} — {', '.join(users)}: {reason}"
                         for i, ((status, reason), users) in enumerate(notes.items(), start=1)]
    return "\n".join(lines) + "\n"
