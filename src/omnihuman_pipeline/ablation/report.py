"""The ablation's outputs: one table in the layout of the paper's Table 1, its JSON and a bar plot per metric.

Rows are the Ref Img row and the variants (by label, in the parameters' order); column groups are the test
sets, then the validation flow-matching loss per task; every column is named with the backend that made
it. The paper's own Table 1 rows follow in a separate block, marked as the paper's: their models, data and
test sets, never mixed into our rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from omnihuman_pipeline.ablation.paper import COLUMNS, PRINCIPLE1, PRINCIPLE2, SOURCE, TEST_SETS, paper_rows
from omnihuman_pipeline.evaluation.report import DEFAULT_LABELS, column_label, metrics_records, metrics_table
from omnihuman_pipeline.evaluation.run import EvalResult, merge_results

REF_IMG = "Ref Img"
PAPER_LABELS = {"ablation_principle1": PRINCIPLE1, "ablation_principle2": PRINCIPLE2}


def merge_variants(results: Sequence[EvalResult]) -> EvalResult:
    """The variants' results as one, with the Ref Img rows of the first variant only (they score the same images)."""

    def without_ref(r: EvalResult) -> EvalResult:
        return EvalResult(r.metrics[r.metrics["method"] != REF_IMG], r.per_video[r.per_video["method"] != REF_IMG],
                          r.generated, r.strips, r.test_set_labels)

    merged = merge_results([results[0], *(without_ref(r) for r in results[1:])])
    merged.strips = []  # the strips belong to eval_strips.png, not to the ablation's report
    return merged


def paper_block(name: str) -> str:
    """The paper's Table 1 rows of this ablation as markdown, headed as the paper's."""
    labels = PAPER_LABELS.get(name, ())
    if not labels:
        return ""
    rows = paper_rows(labels)
    header = ["Method"] + [f"{ts} {m}" for ts in TEST_SETS for m in COLUMNS[ts]]
    lines = [f"## Paper ({SOURCE}) — the authors' models, data and test sets, for reference only", "",
             "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for label in labels:
        cells = ["-" if v is None else f"{v:g}" for ts in TEST_SETS for v in rows[label][ts].values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ablation_table(name: str, merged: EvalResult, labels: Mapping[str, str], *, hide: Sequence[str] = (),
                   digits: int = 3) -> str:
    """Our Table 1 (metrics named with their backends, unavailable cells with footnotes) and the paper's block."""
    title = {"ablation_principle1": "Principle 1: T-only data in the audio stage (Table 1, upper part)",
             "ablation_principle2": "Principle 2: order and ratios of audio and pose (Table 1, lower part)"}.get(name, name)
    ours = metrics_table(merged.metrics, merged.test_set_labels, per_video=merged.per_video, hide=hide, digits=digits,
                         title=title)
    variants = ", ".join(f"`{k}` = {v}" for k, v in labels.items())
    return ours + f"\nVariants: {variants}.\n\n" + paper_block(name)


def ablation_json(name: str, merged: EvalResult, labels: Mapping[str, str],
                  training: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Everything the table shows plus each variant's training facts, and the paper's rows under ``paper``."""
    return {"ablation": name, "variants": dict(labels), "test_sets": dict(merged.test_set_labels),
            "metrics": metrics_records(merged.metrics),
            "training": {k: dict(v) for k, v in training.items()},
            "paper": {"source": SOURCE, "rows": paper_rows(PAPER_LABELS.get(name, ()))}}


def training_facts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a variant's last stage report the table's reader needs (steps, samples, val losses)."""
    return {k: report.get(k) for k in ("steps", "conditions", "ratios", "t_only_fraction", "samples_seen",
                                       "val_loss_start", "val_loss")}


def bar_figure(name: str, metrics: pd.DataFrame, labels: Mapping[str, str], test_set_labels: Mapping[str, str]):
    """One bar chart per (test set, metric) with a value, bars per variant with their 95 % intervals.

    Args:
        name: the ablation.
        metrics: metric rows (``EvalResult.metrics``, or the ``metrics`` records of the ablation's JSON).
        labels: variant key -> label (bar order).
        test_set_labels: test set -> heading.
    """
    import matplotlib.pyplot as plt

    rows = metrics[(metrics["status"] == "ok") & metrics["method"].isin(list(labels.values()))]
    panels = list(dict.fromkeys(zip(rows["test_set"], rows["name"], rows["backend"], strict=True)))
    n = max(1, len(panels))
    cols = min(4, n)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(3.2 * cols, 2.8 * math.ceil(n / cols)),
                             squeeze=False)
    order = list(labels.values())
    headings = {**DEFAULT_LABELS, **test_set_labels}
    for ax, (test_set, metric, backend) in zip(axes.flat, panels, strict=False):
        part = rows[(rows["test_set"] == test_set) & (rows["name"] == metric)].set_index("method").reindex(order)
        values = part["value"].astype(float)
        low = (values - part["ci_low"].astype(float)).clip(lower=0).fillna(0)
        high = (part["ci_high"].astype(float) - values).clip(lower=0).fillna(0)
        ax.bar(range(len(order)), values.fillna(0), yerr=[low, high], color="#4c72b0", capsize=3)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=7)
        title = f"{headings.get(test_set, test_set)}\n{column_label(metric, backend)}"
        top, bottom = (values + high).max(), (values - low).min()
        if bottom > 0 and top - bottom < 0.05 * top:  # variants within 5 %: zoom in, and say so
            ax.set_ylim(bottom - (top - bottom), top + (top - bottom))
            title += f" (y from {bottom - (top - bottom):.3g})"
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if not panels:
        axes.flat[0].text(0.5, 0.5, "no metric with a value", ha="center", va="center")
    fig.suptitle(f"{name}: ours (bars: mean, whiskers: bootstrap 95 % interval)", fontsize=9)
    fig.tight_layout()
    return fig


def figure_from_json(report: Mapping[str, Any]):
    """The bar plot of an ablation's JSON (``data/08_reporting/ablation_principle{1,2}.json``)."""
    metrics = pd.DataFrame(report["metrics"])
    return bar_figure(report["ablation"], metrics, report["variants"], report.get("test_sets", {}))
