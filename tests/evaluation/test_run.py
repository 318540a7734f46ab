"""evaluate_models on tiny model folders: generation at the checkpoint's bucket and length, per-video statuses of
bad test videos, the Ref Img row, validation-loss rows, and the errors that name what to run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnihuman_pipeline.datasets.model_folder import ModelFolder
from omnihuman_pipeline.evaluation.media import Bucket, video_frames
from omnihuman_pipeline.evaluation.run import (
    REF_IMG,
    VAL_LOSS_SET,
    EvalSettings,
    evaluate_models,
    resolve_model_folders,
    validation_loss_results,
)
from omnihuman_pipeline.evaluation.test_sets import EvaluationError, resolve_test_sets
from omnihuman_pipeline.models.export import read_model_card

from .conftest import write_model_folder

METRICS = {"metrics": ["brisque", "fid"], "bootstrap": {"n": 50}}
RUN = {"max_seconds": 0.8, "strip_videos": 2, "strip_frames": 3, "generate": {"steps": 2, "progress": False,
                                                                               "preset": "ultrafast"}}


@pytest.fixture(scope="module")
def folder_result(tmp_path_factory, test_folder, trained_models):
    """stage3 on the folder test set, audio and audio+pose drives."""
    out = tmp_path_factory.mktemp("eval_out")
    sets = resolve_test_sets({"mine": {"source": "folder", "folder": str(test_folder), "label": "Mine",
                                       "drives": ["audio", "audio_pose"]}})
    models = resolve_model_folders(trained_models[3].parent, ["stage3"])
    settings = EvalSettings.from_params(RUN, {}, METRICS)
    return evaluate_models(models, sets, settings, None, out), out


def test_good_videos_are_generated_at_the_bucket_and_length_of_the_real_ones(folder_result, test_folder):
    """The first 0.8 s (1 + 4k = 17 frames) of each good video, at the checkpoint's 32-px bucket, mp4 with audio."""
    result, out = folder_result
    ok = result.generated[result.generated["status"] == "ok"]
    assert sorted(zip(ok["video_id"], ok["drive"], strict=True)) == [("good_a", "audio"), ("good_b", "audio"),
                                                                     ("good_b", "audio_pose")]
    assert set(ok["frames"]) == {17} and set(ok["width"]) == {32} and set(ok["height"]) == {32}
    bucket = Bucket(32, 16)
    for path in ok["output"]:
        assert path.startswith(str(out / "mine" / "stage3"))
        assert video_frames(path, bucket, 100).shape == video_frames(str(test_folder / "good_a.mp4"), bucket,
                                                                     17).shape == (17, 32, 32, 3)
    assert ok["caption_backend"].eq("signals").all()
    assert ok.set_index("drive")["conditions"].to_dict() == {"audio": "text,image,audio",
                                                             "audio_pose": "text,image,audio,pose"}


def test_bad_videos_get_a_status_and_reason_and_the_run_goes_on(folder_result):
    """Undecodable, audio-less and keypoint-less videos fail with their reason in every table; the rest is scored."""
    result, _ = folder_result
    gen = result.generated.set_index(["video_id", "drive"])
    assert gen.loc[("broken", "audio"), "reason"].startswith("decode_failed")
    assert gen.loc[("silent_track", "audio"), "reason"].startswith("no_audio")
    assert gen.loc[("good_a", "audio_pose"), "reason"].startswith("no_pose")
    per_video = result.per_video[result.per_video["method"] == "stage3"]
    broken = per_video[per_video["video_id"] == "broken"]
    assert set(broken["metric"]) == {"brisque", "fid"} and set(broken["status"]) == {"failed"}
    metrics = result.metrics.set_index(["method", "name"])
    assert metrics.loc[("stage3", "brisque"), ["status", "n", "n_videos"]].tolist() == ["ok", 2, 4]
    assert metrics.loc[("stage3 (audio_pose)", "brisque"), "n"] == 1
    assert metrics.loc[("stage3", "fid"), "status"] == "unavailable"


def test_reference_images_and_validation_loss_rows(folder_result):
    """Ref Img scores the three decodable first frames; the card's tasks get val_loss_<task> from report.json."""
    result, _ = folder_result
    ref = result.metrics[result.metrics["method"] == REF_IMG].set_index("name")
    assert set(ref.index) == {"brisque"} and ref.loc["brisque", "n"] == 3 and ref.loc["brisque", "status"] == "ok"
    loss = result.metrics[result.metrics["test_set"] == VAL_LOSS_SET].set_index("name")
    assert loss["value"].to_dict() == {"val_loss_text": 0.99, "val_loss_audio": 1.0, "val_loss_pose": 1.01}
    assert set(loss["backend"]) == {"flow_matching_val"} and set(loss["n"]) == {2}


def test_strips_hold_reference_real_and_generated_frames(folder_result):
    """One strip per shown video: its reference, 3 real frames and the same frames of each generated row."""
    result, _ = folder_result
    assert [s.video_id for s in result.strips] == ["good_a", "good_b"]
    good_b = result.strips[1]
    assert good_b.real.shape == (3, 32, 32, 3) and good_b.reference.shape == (32, 32, 3)
    assert set(good_b.generated) == {"stage3", "stage3 (audio_pose)"} and set(result.strips[0].generated) == {"stage3"}


def test_a_validation_clip_without_media_is_generated_and_scored_from_its_source_span(tmp_path, test_folder,
                                                                                       trained_models):
    """A clip read from its span (no clip file): generated from the span's first frame and audio, and scored against
    the span's frames, which are the frames of the file it lies in."""
    from omnihuman_pipeline.evaluation.test_sets import TestSet, TestVideo
    from omnihuman_pipeline.media.clip_source import ClipSpan
    from omnihuman_pipeline.media.decode import FrameReader

    source = test_folder / "good_a.mp4"
    reader = FrameReader(source, fps=25, analysis_size=None, output_size=(64, 64))
    n = sum(1 for _ in reader)
    span = ClipSpan(str(source), 0, n, 25, reader.t0_s, 64, 64)
    sets = [TestSet("val", "Validation", ("audio",), (TestVideo("v0-c0", None, span=span),))]
    models = resolve_model_folders(trained_models[3].parent, ["stage3"])
    result = evaluate_models(models, sets, EvalSettings.from_params(RUN, {}, METRICS), None, tmp_path)
    (row,) = result.generated.itertuples()
    assert row.status == "ok" and row.frames == 17 and row.media is None
    assert (tmp_path / "val" / "_span_inputs" / "v0-c0.png").is_file()
    bucket = Bucket(32, 16)
    assert np.array_equal(video_frames(span, bucket, 17), video_frames(str(source), bucket, 17))
    scored = result.per_video[(result.per_video["method"] == "stage3") & (result.per_video["status"] == "ok")]
    assert set(scored["video_id"]) == {"v0-c0"} and len(scored)


def test_missing_checkpoint_names_the_train_pipeline(tmp_path):
    """A model folder without model.json / weights asks for `kedro run --pipeline=train`."""
    with pytest.raises(EvaluationError, match="kedro run --pipeline=train"):
        resolve_model_folders(tmp_path, ["stage3"])
    write_model_folder(tmp_path / "stage3", 3)
    (tmp_path / "stage3" / "model.safetensors").unlink()
    with pytest.raises(EvaluationError, match=r"stage3 \(model.json \+ model.safetensors\).*--pipeline=train"):
        resolve_model_folders(tmp_path, ["stage3"])


def test_validation_loss_without_a_report_is_unavailable(tmp_path):
    """A model folder without report.json: each task's val_loss row is unavailable with the reason."""
    folder = write_model_folder(tmp_path / "stage2", 2)
    results = validation_loss_results(ModelFolder(folder, read_model_card(folder)))
    assert [(r.name, r.status) for r in results] == [("val_loss_text", "unavailable"),
                                                     ("val_loss_audio", "unavailable")]
    assert "no report.json" in results[0].reason
    (folder / "report.json").write_text(json.dumps({"val_loss": {"loss_text": 1.5}}))
    results = validation_loss_results(ModelFolder(folder, read_model_card(folder)))
    assert results[0].value == 1.5 and results[1].reason == "report.json has no val_loss.loss_audio"


def test_settings_merge_generate_overrides_and_reject_unknown_keys():
    """evaluate_run.generate overrides params:generate field by field (cfg too); a typo is an error."""
    settings = EvalSettings.from_params({"generate": {"steps": 3, "cfg": {"scale": 2.0}}, "max_seconds": 2.0},
                                        {"steps": 30, "cfg": {"form": "separate"}}, {})
    assert settings.generate.steps == 3 and settings.generate.cfg.scale == 2.0
    assert settings.generate.cfg.form == "separate" and settings.max_frames == 50
    with pytest.raises(EvaluationError, match="unknown evaluate_run settings"):
        EvalSettings.from_params({"max_secs": 2}, {}, {})


def test_decoded_frames_are_cached_and_refreshed_when_the_file_changes(tmp_path):
    """A second read returns the cached frames; a rewritten file is decoded again."""
    from omnihuman_pipeline.inference.media_io import write_video

    path = tmp_path / "v.mp4"
    write_video(path, np.zeros((9, 32, 32, 3), np.uint8), None, preset="ultrafast")
    first = video_frames(str(path), Bucket(32), 9)
    assert video_frames(str(path), Bucket(32), 9) is first
    write_video(path, np.full((5, 32, 32, 3), 200, np.uint8), None, preset="ultrafast")
    again = video_frames(str(path), Bucket(32), 9)
    assert again.shape == (5, 32, 32, 3) and again.mean() > 150
