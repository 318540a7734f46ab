"""The ablation outputs: the Table-1 layout with the paper's block apart from ours, the JSON, the bar plot."""

from __future__ import annotations

import json
import math

import matplotlib
import pandas as pd

from omnihuman_pipeline.ablation.paper import PRINCIPLE2, paper_rows
from omnihuman_pipeline.ablation.report import (
    ablation_json,
    ablation_table,
    bar_figure,
    figure_from_json,
    merge_variants,
    training_facts,
)
from omnihuman_pipeline.evaluation.run import (
    GENERATED_COLUMNS,
    METRIC_COLUMNS,
    PER_VIDEO_COLUMNS,
    REF_IMG,
    EvalResult,
)

matplotlib.use("Agg")
LABELS = {"IA": "IA", "IAP_A_gt_P": "IAP, A>P"}


def row(method, name, value, backend, status="ok", reason=None, test_set="validation"):
    model = None if method == REF_IMG else method
    return dict(zip(METRIC_COLUMNS, (test_set, method, model, "audio", name, value, backend, status, reason, 3, 3,
                                     value - 0.1, value + 0.1), strict=True))


def variant_result(label: str, brisque: float, loss: float) -> EvalResult:
    metrics = pd.DataFrame([row(REF_IMG, "brisque", 20.0, "brisque"),
                            row(label, "brisque", brisque, "brisque"),
                            row(label, "fid", math.nan, "inception_fid", "unavailable", "Weights for 'inception_fid'"),
                            row(label, "val_loss_audio", loss, "flow_matching_val", test_set="val_loss")],
                           columns=METRIC_COLUMNS)
    return EvalResult(metrics, pd.DataFrame(columns=PER_VIDEO_COLUMNS), pd.DataFrame(columns=GENERATED_COLUMNS),
                      [object()], {"validation": "Validation"})


def merged():
    return merge_variants([variant_result("IA", 41.0, 1.08), variant_result("IAP, A>P", 39.0, 1.07)])


def test_merge_keeps_one_ref_img_row_and_drops_the_strips():
    m = merged()
    assert (m.metrics["method"] == REF_IMG).sum() == 1
    assert list(dict.fromkeys(m.metrics["method"])) == [REF_IMG, "IA", "IAP, A>P"] and m.strips == []


def test_table_has_our_rows_then_the_papers_block_marked_as_the_papers():
    md = ablation_table("ablation_principle2", merged(), LABELS)
    ours, paper = md.split("## Paper")
    assert "| IA | " in ours and "| IAP, A>P | " in ours and "41.000" in ours and "unavailable" in ours
    assert "brisque↓ (brisque)" in ours and "FID↓ (inception_fid)" in ours  # columns named with their backends
    assert "for reference only" in paper.splitlines()[0]
    ia = paper_rows(PRINCIPLE2)["IA"]["CelebV-HQ"]
    assert f"| IA | {ia['IQA']:g} | {ia['ASE']:g} |" in paper  # the paper's own numbers, beside ours, apart


def test_json_holds_the_numbers_training_facts_and_the_paper():
    report = {"steps": 30, "conditions": ["text", "audio"], "val_loss": {"loss_audio": 1.07}, "other": 1}
    out = ablation_json("ablation_principle2", merged(), LABELS, {"IA": training_facts(report)})
    json.dumps(out, allow_nan=False)  # strict JSON
    assert out["variants"] == LABELS and out["training"]["IA"]["steps"] == 30 and "other" not in out["training"]["IA"]
    assert {r["method"] for r in out["metrics"]} == {REF_IMG, "IA", "IAP, A>P"}
    assert set(out["paper"]["rows"]) == set(PRINCIPLE2)


def test_bar_plot_has_a_panel_per_metric_with_values_and_a_bar_per_variant():
    fig = bar_figure("ablation_principle2", merged().metrics, LABELS, {"validation": "Validation"})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2  # brisque and the audio validation loss; the unavailable FID has no panel
    assert all(len(ax.patches) == 2 for ax in panels)
    heights = sorted(p.get_height() for ax in panels if "brisque" in ax.get_title() for p in ax.patches)
    assert heights == [39.0, 41.0]
    again = figure_from_json(ablation_json("ablation_principle2", merged(), LABELS, {}))
    assert len([ax for ax in again.axes if ax.get_title()]) == 2
