"""The media step: files for the clips `write_clips` selects, from their source spans, resumable, versioned."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from omnihuman_pipeline.curation.config import CurateConfig, MediaConfig
from omnihuman_pipeline.curation.media_step import selected, write_clip_media
from omnihuman_pipeline.curation.run import run_curation
from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset
from omnihuman_pipeline.media.decode import FrameReader
from omnihuman_pipeline.media.probe import probe
from tests.media.test_clip_source import _frames, write_source

SCENES = {"adaptive_threshold": 3.0, "min_content_val": 15.0, "window_width": 2, "min_scene_s": 0.6,
          "max_clip_s": 20.0, "weights": {"delta_hue": 2.0, "delta_sat": 1.0, "delta_lum": 1.0, "delta_edges": 0.0},
          "detect_short_side": 64}
# crf 0: lossless, so a written clip can be compared with the source's frames exactly
MEDIA = MediaConfig(analysis_short_side=64, clip_short_side=64, crf=0, preset="ultrafast")
SERIAL = {"name": "serial"}


def _shots(n_shots: int, per_shot: int, seed: int) -> np.ndarray:
    """Shots that differ in colour (hard cuts between them)."""
    shots = []
    for k in range(n_shots):
        frames = _frames(per_shot, seed=seed + k).astype(np.int16)
        tint = np.roll(np.array([90, -60, 30]), k)
        shots.append(np.clip(frames + tint, 0, 255).astype(np.uint8))
    return np.concatenate(shots)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Two sources (three and two shots; one rotated, one with audio) through the analysis pass, no scorers."""
    root = tmp_path_factory.mktemp("media_step")
    raw = root / "raw"
    raw.mkdir()
    write_source(raw / "three.mp4", _shots(3, 30, 0), audio_s=3.6, gop=12)
    write_source(raw / "two.mp4", _shots(2, 30, 5), rotation=-90, gop=12)
    store = ResultShardsDataset(filepath=str(root / "shards"), media_dir=str(root / "clips")).load()
    config = CurateConfig(MEDIA, _scenes(), {}, store.media_dir)
    paths = sorted(str(p) for p in raw.iterdir())
    videos, clips, _ = run_curation(paths, store, config, SERIAL)
    assert len(clips) == 5, clips[["clip_id", "start_frame", "end_frame"]]
    clips["eligible_T"] = [True, False, True, False, True]
    return root, store, config, paths, videos, clips


def _scenes():
    from omnihuman_pipeline.scoring.scenes import SceneSplitConfig

    return SceneSplitConfig(**SCENES)


def _run(analysed, tmp_path, media=MEDIA, clips=None):
    _, _, _, _, videos, table = analysed
    return write_clip_media(table if clips is None else clips, videos, media, str(tmp_path / "clips"), SERIAL)[0]


def _decoded(path: str) -> tuple[list[np.ndarray], float, int | None, int | None]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        rate = float(stream.average_rate)
        audio = container.streams.audio[0] if container.streams.audio else None
        return frames, rate, audio.rate if audio else None, audio.layout.nb_channels if audio else None


def test_eligible_t_writes_exactly_the_eligible_clips_with_the_source_frames(analysed, tmp_path):
    """`eligible_T`: a file per T clip, "" for the rest; each file holds the full read's frames of its span (lossless
    here), at 25 fps, with 16 kHz mono audio where the source has audio."""
    out = _run(analysed, tmp_path)
    assert (out["media_path"] != "").tolist() == out["eligible_T"].tolist()
    assert out["media_error"].isna().all()
    for row in out[out["eligible_T"]].to_dict("records"):
        info = probe(row["source_path"])
        full = FrameReader(row["source_path"], fps=25, analysis_size=None, threads=False, rotation=info.rotation,
                           output_size=(row["media_width"], row["media_height"]))
        want = [t.output.to_ndarray() for t in full][row["start_frame"]:row["end_frame"]]
        frames, rate, sr, channels = _decoded(row["media_path"])
        assert rate == 25.0 and len(frames) == row["n_frames"] == len(want)
        assert all(np.array_equal(a, b) for a, b in zip(frames, want, strict=True))
        assert (sr, channels) == ((16_000, 1) if row["has_audio"] else (None, None))
    rotated = out[out["source_path"].str.endswith("two.mp4")].iloc[0]
    assert (rotated["media_width"], rotated["media_height"]) == (64, 106)  # upright portrait


@pytest.mark.parametrize(("mode", "want"), [("all", [True] * 5), ("none", [False] * 5),
                                            ("eligible_T", [True, False, True, False, True])])
def test_each_write_clips_mode(analysed, tmp_path, mode, want):
    """`all` writes every clip, `none` none, `eligible_T` the T clips; `media_path` says which exist."""
    out = _run(analysed, tmp_path, replace(MEDIA, write_clips=mode))
    assert (out["media_path"] != "").tolist() == want
    assert all(os.path.isfile(p) for p in out["media_path"] if p)
    written = sorted(p.name for p in (tmp_path / "clips").rglob("*.mp4"))
    assert written == sorted(os.path.basename(p) for p in out["media_path"] if p)


def test_unknown_mode_is_an_error(analysed):
    """A misspelt mode or a class the table lacks fails clearly instead of writing nothing."""
    clips = analysed[-1]
    with pytest.raises(ValueError, match="write_clips"):
        selected(clips, "eligible")
    with pytest.raises(ValueError, match="eligible_Q"):
        selected(clips, "eligible_Q")


def test_a_changed_threshold_writes_new_clips_keeps_old_ones_and_gc_removes_them(analysed, tmp_path):
    """A clip that becomes eligible gets its file, existing files are not rewritten, a clip that stops being
    eligible keeps its file (still in `media_path`) until `gc: true` removes it."""
    first = _run(analysed, tmp_path)
    stamps = {p: os.stat(p).st_mtime_ns for p in first["media_path"] if p}
    clips = analysed[-1].copy()
    clips["eligible_T"] = [True, True, False, False, True]  # clip 1 becomes eligible, clip 2 stops being
    second = _run(analysed, tmp_path, clips=clips)
    assert (second["media_path"] != "").tolist() == [True, True, True, False, True]
    assert second.loc[2, "media_path"] == first.loc[2, "media_path"]
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps
    collected = _run(analysed, tmp_path, replace(MEDIA, gc=True), clips=clips)
    assert (collected["media_path"] != "").tolist() == [True, True, False, False, True]
    assert not os.path.exists(first.loc[2, "media_path"])
    assert os.stat(first.loc[0, "media_path"]).st_mtime_ns == stamps[first.loc[0, "media_path"]]


def test_other_encoder_settings_replace_the_files(analysed, tmp_path):
    """Files are versioned by the encoder settings: another crf writes new files and removes the old ones."""
    first = _run(analysed, tmp_path)
    second = _run(analysed, tmp_path, replace(MEDIA, crf=23))
    old, new = set(first["media_path"]) - {""}, set(second["media_path"]) - {""}
    assert len(new) == 3 and not old & new
    assert not any(os.path.exists(p) for p in old) and all(os.path.exists(p) for p in new)


def test_resume_writes_only_the_missing_files_and_drops_partial_ones(analysed, tmp_path):
    """After a kill (one file missing, a half-written `.part.mp4` left), a rerun writes only the missing file."""
    first = _run(analysed, tmp_path)
    paths = [p for p in first["media_path"] if p]
    stamps = {p: os.stat(p).st_mtime_ns for p in paths[1:]}
    os.remove(paths[0])
    partial = Path(paths[0]).with_name(Path(paths[0]).stem + ".part.mp4")
    partial.write_bytes(b"\x00" * 100)
    again = _run(analysed, tmp_path)
    assert again["media_path"].tolist() == first["media_path"].tolist() and os.path.isfile(paths[0])
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps and not partial.exists()


def test_media_settings_never_rerun_the_analysis(analysed):
    """`write_clips`, `gc` and the clip encoder are not in the analysis fingerprint: a rerun with other media
    settings finds every shard current and runs no video; the analysis settings are in it."""
    _, store, config, paths, _, clips = analysed
    for change in ({"write_clips": "all"}, {"gc": True}, {"crf": 30}, {"preset": "medium"}, {"clip_short_side": 32}):
        assert replace(config, media=replace(MEDIA, **change)).fingerprint() == config.fingerprint(), change
    assert replace(config, media=replace(MEDIA, analysis_short_side=96)).fingerprint() != config.fingerprint()
    shards = {p: p.stat().st_mtime_ns for p in Path(store.root).glob("*.parquet")}
    other = replace(config, media=replace(MEDIA, write_clips="all", crf=30, gc=True))
    _, again, timings = run_curation(paths, store, other, SERIAL)
    assert timings == {} and {p: p.stat().st_mtime_ns for p in shards} == shards
    pd.testing.assert_frame_equal(again, clips.drop(columns="eligible_T"))
