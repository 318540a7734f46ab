"""`python -m omnihuman_pipeline.results`: every result listed, and the ones older than their inputs marked."""

from __future__ import annotations

import json
import os

from omnihuman_pipeline.results import result_lines


def _write(path, text="x", mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_results_mark_what_is_older_than_its_inputs(tmp_path):
    """New raw videos make the clip table stale, and the features too once the clip table is rewritten."""
    data = tmp_path / "data"
    summary = {"clips": {"count": 2, "T": {"count": 1}}}
    _write(data / "01_raw/a.mp4", mtime=1_000)
    _write(data / "03_primary/clips.parquet", mtime=2_000)
    _write(data / "08_reporting/curate_summary.json", json.dumps(summary))
    _write(data / "04_feature/features.parquet", mtime=3_000)
    _write(data / "08_reporting/features_summary.json", json.dumps({"ok": 1}))
    os.utime(data / "01_raw", (1_000, 1_000))
    lines = "\n".join(result_lines(tmp_path))
    assert "STALE" not in lines and "not trained yet: kedro run --pipeline=train" in lines
    _write(data / "01_raw/mine/own.mov")  # the user's own video, now
    lines = result_lines(tmp_path)
    clip_line = next(line for line in lines if "clip table" in line)
    assert "STALE: older than data/01_raw; run kedro run --pipeline=curate" in clip_line
    assert "STALE" not in next(line for line in lines if "features" in line)
    _write(data / "03_primary/clips.parquet")  # curated again: now the features are behind
    assert "STALE: older than data/03_primary/clips.parquet; run kedro run --pipeline=features" in next(
        line for line in result_lines(tmp_path) if "features" in line)


def test_headline_holds_the_numbers_that_compare_experiments(tmp_path):
    """T/A/P counts, each stage's validation loss and the evaluation's values per method, nothing else."""
    from omnihuman_pipeline.results import headline, main

    data = tmp_path / "data"
    _write(data / "08_reporting/curate_summary.json", json.dumps(
        {"clips": {"count": 9, "T": {"count": 7}, "A": {"count": 3}, "P": {"count": 5}}}))
    _write(data / "06_models/stage1/report.json", json.dumps({"val_loss": {"loss": 0.51234, "loss_text": 0.5}}))
    _write(data / "08_reporting/eval_summary.json", json.dumps(
        {"validation": {"Ref Img": {"brisque": 21.0}, "stage3": {"brisque": 30.5, "sync_conf": float("nan")}}}))
    assert headline(tmp_path) == {"clips": {"T": 7, "A": 3, "P": 5}, "val_loss": {"stage1": 0.5123},
                                  "eval": {"stage3.brisque": 30.5}}
    assert main(["--headline", "data/08_reporting/headline.json", str(tmp_path)]) == 0
    assert json.loads((data / "08_reporting/headline.json").read_text())["clips"]["T"] == 7


def test_generated_line_says_whether_a_face_was_drawn(tmp_path):
    """The generation's face check is reported; a model that draws no person is said to, with what to do."""
    import pandas as pd

    data = tmp_path / "data"
    _write(data / "07_model_output/videos/a.mp4")
    table = data / "07_model_output/generated.parquet"
    pd.DataFrame({"status": ["ok", "ok", "failed"], "face_share": [0.0, 0.0625, None]}).to_parquet(table)
    line = next(line for line in result_lines(tmp_path) if "generated" in line)
    assert "a face in 0%–6% of their frames" in line and "no person drawn" in line and "`small` profile" in line
    pd.DataFrame({"status": ["ok"], "face_share": [0.94]}).to_parquet(table)
    line = next(line for line in result_lines(tmp_path) if "generated" in line)
    assert "a face in 94%–94% of their frames" in line and "no person drawn" not in line
