"""The reports: the paper-style table (methods x test sets x metrics with backends, unavailable cells and
footnotes), the DVC summary and the JSON records."""

from __future__ import annotations

import json
import math

import pandas as pd

from omnihuman_pipeline.evaluation.report import column_label, metrics_records, metrics_summary, metrics_table
from omnihuman_pipeline.evaluation.run import METRIC_COLUMNS, PER_VIDEO_COLUMNS, REF_IMG, VAL_LOSS_SET

NAN = math.nan
NO_QALIGN = "Weights for 'qalign' not found"
NO_FID = "Weights for 'inception_fid' not found"


def row(test_set, method, name, value, backend, status="ok", reason=None, n=3, n_videos=3):
    model = None if method == REF_IMG else method
    return dict(zip(METRIC_COLUMNS, (test_set, method, model, "audio", name, value, backend, status, reason, n,
                                     n_videos, value - 0.1, value + 0.1), strict=True))


def example_metrics() -> pd.DataFrame:
    rows = []
    for ts in ("celebv", "ravdess"):
        rows += [row(ts, REF_IMG, "iqa", NAN, "qalign", "unavailable", NO_QALIGN, 0),
                 row(ts, REF_IMG, "brisque", 20.0, "brisque")]
        for method, shift in (("stage2", 0.0), ("stage3", 1.0)):
            rows += [row(ts, method, "fid", NAN, "inception_fid", "unavailable", NO_FID, 0),
                     row(ts, method, "iqa", NAN, "qalign", "unavailable", NO_QALIGN, 0),
                     row(ts, method, "brisque", 40.0 + shift, "brisque", n=2 if ts == "ravdess" else 3),
                     row(ts, method, "hkc_mediapipe", NAN, "mediapipe", "failed", "no video scored", 0),
                     row(ts, method, "sync_offset", 0.0, "syncnet")]
    rows += [row(VAL_LOSS_SET, "stage2", "val_loss_text", 1.01, "flow_matching_val", n=2, n_videos=2),
             row(VAL_LOSS_SET, "stage3", "val_loss_text", 0.99, "flow_matching_val", n=2, n_videos=2),
             row(VAL_LOSS_SET, "stage3", "val_loss_pose", 1.02, "flow_matching_val", n=2, n_videos=2)]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def example_per_video() -> pd.DataFrame:
    rows = [("celebv", "stage2", "stage2", "audio", vid, "hkc_mediapipe", NAN, "mediapipe", "failed", reason, 0)
            for vid, reason in (("a", "no_hands"), ("b", "no_hands"), ("c", "input: decode_failed: bad"))]
    return pd.DataFrame(rows, columns=PER_VIDEO_COLUMNS)


def table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def test_table_layout_methods_by_test_sets_by_metrics():
    """Group row of test sets (then the validation loss), a metric row named with backends in the paper's order,
    Ref Img first, one row per method; a hidden result is left out."""
    md = metrics_table(example_metrics(), {"celebv": "CelebV-HQ", "ravdess": "RAVDESS"}, hide=["sync_offset"])
    groups, metrics, *body = table_rows(md)
    assert groups[0] == "Method" and [g for g in groups[1:] if g] == ["CelebV-HQ", "RAVDESS",
                                                                      "Validation loss (flow matching)"]
    per_set = ["**IQA↑ (qalign)**", "**brisque↓ (brisque)**", "**FID↓ (inception_fid)**",
               "**hkc_mediapipe↑ (mediapipe)**"]
    assert metrics[1:] == per_set * 2 + ["**val_loss_text↓ (flow_matching_val)**",
                                          "**val_loss_pose↓ (flow_matching_val)**"]
    assert [r[0] for r in body] == [REF_IMG, "stage2", "stage3"]
    assert groups[1:].index("RAVDESS") == len(per_set)
    assert "Sync offset" not in md


def test_table_cells_values_unavailable_and_footnotes():
    """Values with (n/N) when not every video scored, `-` where a row has no such metric, `unavailable`/`failed`
    with one footnote per reason naming its columns, and the per-video reasons behind a failed set value."""
    md = metrics_table(example_metrics(), per_video=example_per_video(), hide=["sync_offset"])
    _, _, ref, stage2, stage3 = table_rows(md)
    assert ref[1:5] == ["unavailable¹", "20.000", "-", "-"]
    assert stage2[1:5] == ["unavailable¹", "40.000", "unavailable²", "failed³"]
    assert stage3[6] == "41.000 (2/3)" and stage2[-2:] == ["1.010", "-"] and stage3[-1] == "1.020"
    notes = [line for line in md.splitlines() if line.startswith("- ")]
    assert notes[0].startswith("- ¹ unavailable — IQA↑ (qalign): " + NO_QALIGN)
    assert notes[1].startswith("- ² unavailable — FID↓ (inception_fid): " + NO_FID)
    assert notes[2] == "- ³ failed — hkc_mediapipe↑ (mediapipe): no video scored; per video: no_hands ×2, input ×1"
    assert "failed⁴" in stage3[4] and len(notes) == 4


def test_offline_defaults_never_take_a_real_metric_name():
    """The paper's names label only the real metrics; the defaults keep their own result names."""
    assert column_label("sync_c", "syncnet") == "Sync-C↑ (syncnet)"
    for name in ("sync_conf_mouth_envelope", "hkc_mediapipe", "hkv_mediapipe", "akd_mediapipe", "brisque"):
        label = column_label(name, "mediapipe")
        assert label.startswith(name) and not any(real in label for real in ("Sync-C", "HKC", "HKV", "AKD", "IQA"))


def test_summary_holds_the_ok_values_by_test_set_and_method():
    """{test_set: {method: {metric: value}}} of the ok rows only, JSON- and DVC-friendly."""
    summary = metrics_summary(example_metrics())
    assert summary["celebv"][REF_IMG] == {"brisque": 20.0}
    assert summary["ravdess"]["stage3"] == {"brisque": 41.0, "sync_offset": 0.0}
    assert summary[VAL_LOSS_SET]["stage3"] == {"val_loss_text": 0.99, "val_loss_pose": 1.02}
    json.dumps(summary, allow_nan=False)


def test_records_are_strict_json():
    """One record per metric row; NaN values and intervals become null."""
    records = metrics_records(example_metrics())
    assert len(records) == len(example_metrics()) and set(records[0]) == set(METRIC_COLUMNS)
    text = json.dumps(records, allow_nan=False)
    fid = next(r for r in json.loads(text) if r["name"] == "fid")
    assert fid["value"] is None and fid["status"] == "unavailable" and fid["reason"] == NO_FID
