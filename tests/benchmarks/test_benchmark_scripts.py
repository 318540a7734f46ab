"""The benchmark scripts run end to end on a small input and write the JSON they promise (not timed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_curate_speed_writes_ratio_and_shares(tmp_path):
    """One small video, T scorers, both write modes, one repeat: per mode the ratio, its analysis and media parts,
    the share of clips kept, the floor modes and the stage shares are written."""
    out = tmp_path / "curate.json"
    stdout = _run("curate_speed.py", "--videos", "1", "--source-height", "144", "--repeat", "1",
                  "--scorers", "T", "--write-clips", "eligible_T,all", "--out", str(out))
    results = json.loads(out.read_text())["results"]
    assert "ratio curate/decode" in stdout and [r["write_clips"] for r in results] == ["eligible_T", "all"]
    for result in results:
        assert result["files"] == 1 and result["clips"] == 3 and result["scorer_set"] == "T"
        ratio = result["curate_s"] / result["floor_decode_s"]  # both rounded to ms in the JSON
        assert result["ratio_curate_to_decode"] == pytest.approx(ratio, rel=0.05)
        assert result["curate_s"] == pytest.approx(result["analysis_s"] + result["media_s"], abs=0.01)
        assert result["floor_decode_s"] == min(result["floor_decode_s_by_decoder_threads"].values())
        assert set(result["stage_share_of_worker_time"]) >= {"decode_split", "score_motion", "score_person"}
        assert 0 < result["worker_busy_share"] <= 1.0
    kept, every = results
    assert kept["clips_written"] == kept["clips_eligible_T"] and every["clips_written"] == 3
    assert every["kept_share_clips"] == 1.0 and {"media_encode", "media_decode"} <= set(every["stage_share_of_worker_time"])
    assert every["encode_alone_s"] > 0 and "encode of kept clips alone" in stdout
    assert every["ratio_encode_alone_to_decode"] == pytest.approx(every["encode_alone_s"] / every["floor_decode_s"],
                                                                 rel=0.05)


def test_motion_flow_compares_backends_on_known_pans(tmp_path):
    """Every motion backend is timed against Farneback and its pan error is below 10 %."""
    out = tmp_path / "motion.json"
    stdout = _run("motion_flow.py", "--out", str(out))
    result = json.loads(out.read_text())
    assert {"dis", "farneback"} <= set(result) and result["farneback"]["time_ratio_to_farneback"] == 1.0
    assert all(r["pan_mean_relative_error"] < 0.1 for r in result.values()) and "pan error" in stdout


def test_scaling_times_every_filter_and_area_beats_bilinear_fidelity(tmp_path):
    """On a small generated video: all four filters timed both ways; AREA is closer to Lanczos than BILINEAR
    and FAST_BILINEAR (the fidelity numbers are deterministic; the times are not asserted)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from curate_speed import make_hd_corpus

    make_hd_corpus(tmp_path, n_videos=1, shot_s=1.0, size=(360, 640))
    out = tmp_path / "scaling.json"
    _run("scaling.py", "--video", str(tmp_path / "hd_0.mp4"), "--frames", "20", "--out", str(out))
    filters = json.loads(out.read_text())["filters"]
    assert set(filters) == {"FAST_BILINEAR", "BILINEAR", "AREA", "BICUBIC"}
    db = {name: f["source_to_clip"]["psnr_vs_lanczos_db"] for name, f in filters.items()}
    assert db["AREA"] > db["BILINEAR"] > db["FAST_BILINEAR"]
    assert all(f["clip_to_analysis"]["ms_per_frame"] > 0 for f in filters.values())


def test_scaling_analysis_paths_keep_full_chroma(tmp_path):
    """`--analysis`: every way to the RGB analysis frame is timed; the planar one the reader uses is as faithful
    as full chroma interpolation and more than swscale's packed RGB, against both float references."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from curate_speed import make_hd_corpus

    make_hd_corpus(tmp_path, n_videos=1, shot_s=1.0, size=(360, 640))
    out = tmp_path / "scaling_analysis.json"
    _run("scaling.py", "--analysis", "--video", str(tmp_path / "hd_0.mp4"), "--frames", "20", "--out", str(out))
    paths = json.loads(out.read_text())["paths"]
    now, packed, full = paths["gbrp -> swscale rgb24 (now)"], paths["rgb24 (packed, before)"], paths["rgb24 + FULL_CHR_H_INT"]
    for ref in ("psnr_vs_swscale_float_db", "psnr_vs_opencv_float_db"):
        assert now[ref] > packed[ref] and now[ref] == pytest.approx(full[ref], abs=0.5)
    assert now["max_abs_error_vs_swscale_float"] <= 2.0 and len(paths) == 6
    assert now["psnr_vs_swscale_float_db"] == paths["gbrp + cv2.merge"]["psnr_vs_swscale_float_db"]


def test_core_contention_times_decode_next_to_each_neighbour(tmp_path):
    """Decode (FFmpeg's threads, one thread, with swscale's conversions in both thread settings) alone and next to a
    decode, MediaPipe and plain Python: a time for each (not asserted: they depend on the machine)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from curate_speed import make_hd_corpus

    make_hd_corpus(tmp_path, n_videos=1, shot_s=1.0, size=(144, 256))
    out = tmp_path / "contention.json"
    stdout = _run("core_contention.py", "--video", str(tmp_path / "hd_0.mp4"), "--out", str(out))
    rows = json.loads(out.read_text())["ms_per_frame"]
    assert set(rows) == {"alone", "next_to_decode", "next_to_mediapipe", "next_to_python"}
    assert all(set(row) == {"threads", "single", "single+sws threads", "single+sws single"} for row in rows.values())
    assert all(ms > 0 for row in rows.values() for ms in row.values()) and "next_to_mediapipe" in stdout


def _audio_use():
    import importlib.util

    spec = importlib.util.spec_from_file_location("audio_use", REPO / "benchmarks" / "audio_use.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_audio_use_reports_the_ceiling_and_the_models_correlations(tmp_path, capsys):
    """A codec-sized synthetic cache and an untrained audio model folder: the ceiling and both correlations are
    written per model, over every window of the A clips."""
    from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
    from omnihuman_pipeline.models import OmniHumanConfig, OmniHumanTransformer
    from omnihuman_pipeline.models.export import ModelCard, save_model_folder

    index, _ = make_cache(tmp_path / "features", [ClipSpec(f"v{i}", A=True, P=True) for i in range(4)],
                          channels=768, marked=False, quantized=True)
    index.to_parquet(tmp_path / "features/features.parquet")
    config = OmniHumanConfig.from_preset("tiny", in_channels=768, text_dim=16, audio_layers=3, audio_dim=8,
                                         with_pose=False)
    save_model_folder(tmp_path / "stage2", OmniHumanTransformer(config),
                      ModelCard(config, 2, ("text", "image", "audio"), flow={"prediction": "x0"}))
    with pytest.raises(SystemExit, match="face keypoints"):  # the synthetic skeleton has no eyes
        _audio_use().main(["--features", str(tmp_path / "features"), "--model", str(tmp_path / "stage2")])
    module = _audio_use()
    module.clip_mouth_box = lambda record: (0.25, 0.5, 0.75, 0.9)
    module.main(["--features", str(tmp_path / "features"), "--model", str(tmp_path / "stage2")])
    out = json.loads(capsys.readouterr().out)
    assert out["clips"] == 4 and -1.0 <= out["ridge_r"] <= 1.0
    model = out["models"][str(tmp_path / "stage2")]
    assert model["windows"] == 8  # two windows a clip
    # an untrained audio branch is zero: the estimate ignores the audio, so both correlations are equal
    assert model["r_own"] == pytest.approx(model["r_other"], abs=1e-6)
    assert model["mouth_std_real"] > 0
