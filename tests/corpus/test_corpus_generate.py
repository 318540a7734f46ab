"""Read the generated corpus back with PyAV and check every file against its ground truth."""

from __future__ import annotations

import json
from dataclasses import fields

import av
import numpy as np
import pytest

from omnihuman_pipeline.corpus import encode, generate, synth
from omnihuman_pipeline.corpus.__main__ import main as cli_main
from omnihuman_pipeline.corpus.generate import GROUND_TRUTH_FILE, STATUSES, VideoTruth, generate_corpus
from tests.corpus.corpus_helpers import UNRELATED, circular_hue_change, decode_video

FPS = 25


def _ok(truths: dict[str, VideoTruth]) -> list[VideoTruth]:
    return [t for t in truths.values() if t.expected_status == ["ok"]]


def test_ground_truth_json_schema(corpus):
    """ground_truth.json lists every file with all VideoTruth fields and valid statuses."""
    root, truths = corpus
    doc = json.loads((root / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    assert doc["generator"] == generate.GENERATOR and doc["profile"] == "tiny" and doc["seed"] == 0
    names = {f.name for f in fields(VideoTruth)}
    for row in doc["videos"]:
        assert set(row) == names
        assert row["expected_status"] and set(row["expected_status"]) <= set(STATUSES)
        assert (root / row["relpath"]).is_file()
    assert generate.load_ground_truth(root) == list(truths.values())


def test_corpus_covers_required_cases(corpus):
    """The tiny profile holds every required kind, several containers and 40-120 s of media (talking clips included)."""
    _, truths = corpus
    kinds = {t.kind for t in truths.values()}
    assert {"multi_scene", "hue_cut", "static", "shaky", "no_person", "vfr", "rotated", "odd_size", "uhd",
            "non_ascii", "very_short", "truncated", "corrupt", "not_video", "empty", "audio_only"} <= kinds
    assert {t.container for t in truths.values()} >= {"mp4", "mov", "mkv", "webm", "avi"}
    assert any(t.has_audio for t in _ok(truths)) and any(not t.has_audio for t in _ok(truths))
    assert 40 <= sum(t.duration_s for t in truths.values()) <= 120
    assert {"talking_synced", "talking_unsynced", "talking_silent", "talking_two_person"} <= {t.kind for t in truths.values()}
    assert {"hard", "hue_only"} <= {k for t in truths.values() for k in t.cut_kinds}


def test_cuts_and_segments_are_consistent(corpus):
    """Cut frames equal cut seconds x 25, segments tile the file, and cuts are >= 1.5 s apart and from the ends."""
    _, truths = corpus
    for t in truths.values():
        assert t.cut_frames == [round(c * FPS) for c in t.cuts_s]
        assert len(t.cut_kinds) == len(t.cuts_s)
        if not t.segments:
            continue
        starts = [s["start_s"] for s in t.segments]
        ends = [s["end_s"] for s in t.segments]
        assert starts[0] == 0 and ends[-1] == pytest.approx(t.duration_s, abs=1e-6)
        assert starts[1:] == ends[:-1] and starts[1:] == t.cuts_s
        bounds = [0.0, *t.cuts_s, t.duration_s]
        assert min(np.diff(bounds)) >= 1.5 or not t.cuts_s
        for s in t.segments:
            assert s["person"] == synth.SOURCE_HAS_PERSON.get(s["source"], s["source"] == "astronaut_face")
            assert s["motion"] in ("static", "normal", "shaky")


def test_playable_files_match_truth(corpus):
    """Every playable file decodes with the recorded frame count, fps, size, duration and audio track."""
    root, truths = corpus
    for t in truths.values():
        if t.decodable_frames == 0 or t.kind == "truncated":
            continue
        with av.open(str(root / t.relpath)) as container:
            v = container.streams.video[0]
            assert (v.width, v.height) == (t.coded_width, t.coded_height), t.relpath
            if not t.vfr:
                assert float(v.average_rate) == pytest.approx(FPS), t.relpath
            audio = container.streams.audio
            assert bool(audio) == t.has_audio, t.relpath
            if t.has_audio:
                assert audio[0].sample_rate == t.audio_sr and audio[0].channels == t.audio_channels
            n, last = 0, 0.0
            for frame in container.decode(v):
                n, last = n + 1, float(frame.time)
        assert n == t.n_frames == t.decodable_frames, t.relpath
        assert last + 1.0 / FPS == pytest.approx(t.duration_s, abs=0.03), t.relpath


def test_vfr_file_has_irregular_intervals(corpus):
    """The VFR file's frame intervals really vary (20-60 ms) around a 25 fps mean."""
    root, truths = corpus
    (t,) = [t for t in truths.values() if t.vfr]
    _, times = decode_video(root / t.relpath)
    dt = np.diff(times)
    assert len(times) == t.n_frames
    assert dt.std() > 0.008 and dt.min() >= 0.019 and dt.max() <= 0.061
    assert dt.mean() == pytest.approx(1 / FPS, abs=0.004)


def test_rotated_file_reports_rotation(corpus):
    """The phone video is coded landscape and reports -90 degrees, so it displays as portrait."""
    root, truths = corpus
    t = truths["edge/phone_rotated.mp4"]
    assert encode.read_rotation(root / t.relpath) == t.rotation == -90
    frames, _ = decode_video(root / t.relpath)
    assert frames.shape[1:3] == (t.coded_height, t.coded_width) == (256, 448)
    shown = encode.display_from_coded(frames[:1], t.rotation)
    assert shown.shape[1:3] == (t.height, t.width) == (448, 256)
    assert all(encode.read_rotation(root / u.relpath) == 0 for u in _ok(truths) if u.kind == "multi_scene")


def test_odd_uhd_and_non_ascii_files_decode(corpus):
    """The 175x143, the 3840x2160 and the non-ASCII-named files open and decode at their sizes."""
    root, truths = corpus
    for relpath, size in [("edge/odd_175x143.mp4", (143, 175)), ("edge/uhd_2160x3840.mp4", (3840, 2160)),
                          ("edge/ünïcödé_视频.mp4", (256, 320))]:
        with av.open(str(root / relpath)) as container:
            frame = next(container.decode(video=0))
        assert frame.to_ndarray(format="rgb24").shape[:2] == size
        assert (truths[relpath].height, truths[relpath].width) == size


def test_bad_inputs_fail_as_expected(corpus):
    """Empty, text, corrupt, truncated, audio-only and very short files behave as their status says."""
    root, truths = corpus
    assert (root / "bad/empty.mp4").stat().st_size == 0
    for relpath in ("bad/empty.mp4", "bad/not_a_video.mp4", "bad/corrupt.mp4"):
        assert set(truths[relpath].expected_status) <= {"empty", "unreadable"}
        with pytest.raises(av.error.InvalidDataError):
            av.open(str(root / relpath))
    with av.open(str(root / "bad/audio_only.mp4")) as container:
        assert not container.streams.video and len(container.streams.audio) == 1
    t = truths["bad/truncated.mp4"]
    with av.open(str(root / t.relpath)) as container:
        assert container.streams.video[0].frames == t.n_frames  # the moov index still promises all frames
        n = 0
        try:  # depending on where the cut falls, decoding stops quietly or on a partial packet
            for _ in container.decode(video=0):
                n += 1
        except av.error.FFmpegError:
            pass
    assert 0.3 * t.n_frames < n == t.decodable_frames < 0.8 * t.n_frames
    assert truths["edge/very_short.mp4"].expected_status == ["too_short"]
    assert truths["edge/very_short.mp4"].decodable_frames == 12


def test_cut_frames_match_difference_spikes(corpus):
    """In each decoded multi-scene file the frame-difference maximum near a cut falls exactly on the cut frame."""
    root, truths = corpus
    for t in truths.values():
        if not t.cut_frames or t.expected_status != ["ok"]:
            continue
        frames, _ = decode_video(root / t.relpath)
        diff = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))  # diff[i-1]: frame i vs i-1
        non_cut = np.delete(diff, [c - 1 for c in t.cut_frames])
        for c in t.cut_frames:
            window = diff[c - 1 - 10 : c - 1 + 11]
            assert np.argmax(window) == 10, (t.relpath, c)
            assert diff[c - 1] > 3 * np.median(non_cut), (t.relpath, c)


def test_hue_only_cut_keeps_luma(corpus):
    """Across the decoded hue-only cut luma changes like any other frame pair while chroma and hue jump."""
    root, truths = corpus
    t = truths["multi/hue_cut.mkv"]
    (k,) = t.cut_frames
    frames, _ = decode_video(root / t.relpath)
    f = frames.astype(np.float32)
    y = synth.luma(f)
    chroma = np.stack([f[..., 2] - y, f[..., 0] - y], axis=-1)  # unscaled B-Y, R-Y
    dy = np.abs(np.diff(y, axis=0)).mean(axis=(1, 2))  # dy[i - 1]: frame i vs i - 1; the pan alone gives ~11
    dc = np.abs(np.diff(chroma, axis=0)).mean(axis=(1, 2, 3))
    around = np.r_[k - 6 : k - 1, k : k + 5]
    assert dy[k - 1] == pytest.approx(dy[around].mean(), rel=0.05)
    assert abs(y[k].mean() - y[k - 1].mean()) < 1.0
    assert dc[k - 1] > 5 * np.median(dc[around])
    assert circular_hue_change(frames[k - 1 : k], frames[k : k + 1]) > 60.0
    assert circular_hue_change(frames[k - 2 : k - 1], frames[k - 1 : k]) < 10.0


def test_same_seed_same_bytes(corpus, tmp_path):
    """Re-rendering files with the same seed gives the same bytes; another seed gives other content."""
    root, truths = corpus
    specs = {s.relpath: s for s in generate._specs("tiny")}
    for relpath in ("multi/three_scenes.mp4", "multi/hue_cut.mkv", "edge/vfr.mp4", "single/no_person_chelsea.avi",
                    "single/no_person_coffee.webm", "bad/truncated.mp4"):
        dst = tmp_path / f"again.{relpath.rsplit('.', 1)[-1]}"
        (tmp_path / "w").mkdir(exist_ok=True)
        truth = generate._write_item(specs[relpath], dst, 0, tmp_path / "w")
        assert generate._sha256(dst) == truths[relpath].sha256, relpath
        assert truth.cut_frames == truths[relpath].cut_frames and truth.segments == truths[relpath].segments
    other = tmp_path / "other.mp4"
    generate._write_item(specs["multi/three_scenes.mp4"], other, 1, tmp_path / "w")
    assert generate._sha256(other) != truths["multi/three_scenes.mp4"].sha256


def test_rerun_is_idempotent_and_keeps_unrelated_files(corpus):
    """A rerun with the same profile and seed rewrites nothing, and a foreign file stays untouched."""
    root, truths = corpus
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    again = generate_corpus(root, profile="tiny", seed=0)
    assert again == list(truths.values())
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == mtimes
    assert (root / UNRELATED).read_text() == "not ours\n"
    assert not list(root.glob(".corpus-*"))


def test_refuses_to_overwrite_foreign_files(tmp_path):
    """A foreign file at a corpus path or a foreign ground_truth.json aborts before anything is written."""
    (tmp_path / "multi").mkdir()
    (tmp_path / "multi/three_scenes.mp4").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="three_scenes"):
        generate_corpus(tmp_path)
    assert (tmp_path / "multi/three_scenes.mp4").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["multi", "three_scenes.mp4"]
    other = tmp_path / "other"
    other.mkdir()
    (other / GROUND_TRUTH_FILE).write_text("{}")
    assert cli_main(["--out", str(other)]) == 1


def test_cli_prints_one_line_summary(corpus, capsys):
    """The CLI on an up-to-date corpus exits 0 and prints one summary line."""
    root, truths = corpus
    assert cli_main(["--out", str(root), "--profile", "tiny"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and f"{len(truths)} files" in out[0]
