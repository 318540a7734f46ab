"""Features of a clip read from its source span equal those read from its written clip file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from omnihuman_pipeline.curation.config import CurateConfig, MediaConfig
from omnihuman_pipeline.curation.media_step import write_clip_media
from omnihuman_pipeline.curation.run import run_curation
from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset
from omnihuman_pipeline.features.clip_media import read_clip_audio, read_clip_video
from omnihuman_pipeline.features.config import FeatureConfig
from omnihuman_pipeline.features.run import clip_inputs, run_features
from omnihuman_pipeline.features.shards import FeatureStore
from omnihuman_pipeline.scoring.scenes import SceneSplitConfig
from tests.curation.test_media_step import SCENES, _shots
from tests.media.test_clip_source import write_source

MEDIA = MediaConfig(analysis_short_side=64, clip_short_side=96, crf=0, write_clips="all")
VIDEO = {"short_side": 48, "multiple": 16, "fps": 25, "max_frames": 0, "min_frames": 5}
# the clip's own encoding loss, measured on these clips (noisy textures, hard to code) at the base profile's x264
# settings (crf 20, veryfast): mean |diff| 3.27-3.81 levels of 255 (99th percentile 17-19); AAC at 16 kHz: RMS
# error 0.0053-0.0059 on a tone of peak 0.45-0.49
CRF20_MEAN_LEVELS, AAC_RMS = 4.5, 0.02


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Clips of two sources (one rotated), analysed, every clip written losslessly, and at crf 20."""
    root = tmp_path_factory.mktemp("span_features")
    write_source(root / "a.mp4", _shots(2, 30, 0), audio_s=2.4, gop=10)
    write_source(root / "b.mp4", _shots(2, 30, 3), rotation=-90, gop=10)
    store = ResultShardsDataset(filepath=str(root / "shards"), media_dir=str(root / "clips")).load()
    config = CurateConfig(MEDIA, SceneSplitConfig(**SCENES), {}, store.media_dir)
    videos, clips, _ = run_curation([str(root / "a.mp4"), str(root / "b.mp4")], store, config, {"name": "serial"})
    lossless, _ = write_clip_media(clips, videos, MEDIA, str(root / "lossless"), {"name": "serial"})
    lossy, _ = write_clip_media(clips, videos, replace(MEDIA, crf=20, preset="veryfast"), str(root / "lossy"),
                                {"name": "serial"})
    assert len(clips) == 4
    return lossless.assign(has_audio=lossless["has_audio"], lossy_path=lossy["media_path"])


def _video(source):
    return read_clip_video(source, **VIDEO).frames


def test_span_frames_equal_lossless_clip_frames(table):
    """For a lossless clip file, the source span gives identical feature frames (rotated source included)."""
    for clip in clip_inputs(table):
        assert clip.span is not None and clip.media_path
        from_file, from_span = _video(clip.media_path), _video(clip.span)
        assert from_file.shape == from_span.shape and from_file.shape[0] == 1 + 4 * ((clip.n_frames - 1) // 4)
        assert np.array_equal(from_file, from_span), clip.clip_id


def test_span_frames_match_the_real_crf_clip_within_its_encoding_loss(table):
    """Against a clip at the base profile's crf 20 the span differs only by that encoding's loss (bound measured
    and stated above), and its audio by the AAC loss."""
    for row in table.to_dict("records"):
        (clip,) = clip_inputs(table[table["clip_id"] == row["clip_id"]])
        lossy, from_span = _video(row["lossy_path"]).astype(int), _video(clip.span).astype(int)
        diff = np.abs(lossy - from_span)
        assert diff.mean() < CRF20_MEAN_LEVELS, (clip.clip_id, diff.mean())
        # the whole difference is the encoding's: the lossless file differs from the lossy one the same way
        assert np.array_equal(diff, np.abs(lossy - _video(row["media_path"]).astype(int)))
        n = clip.n_frames
        from_span = read_clip_audio(clip.span, n_frames=n, fps=25, sample_rate=16_000)
        from_file = read_clip_audio(row["lossy_path"], n_frames=n, fps=25, sample_rate=16_000)
        if not row["has_audio"]:
            assert from_span is None and from_file is None
            continue
        assert from_span.shape == from_file.shape == (n * 640,)
        assert np.sqrt(np.mean((from_span - from_file) ** 2)) < AAC_RMS


def test_features_run_on_clips_without_media(table, tmp_path):
    """With `write_clips: none` (no `media_path`) every T clip is cached from its source span."""
    spans = table.assign(media_path="", eligible_T=True, eligible_A=False, eligible_P=False, caption="a shot")
    params = {"frames": {"max_frames": 0, "min_frames": 5}, "video": {"short_side": 32, "multiple": 16},
              "text": {"max_length": 8}, "store": {"clips_per_shard": 2}}
    index, summary = run_features(spans, FeatureStore.at(str(tmp_path / "shards")), FeatureConfig.from_params(params))
    assert (index["status"] == "ok").all(), index[["clip_id", "status", "error"]]
    assert summary["computed_clips"] == len(spans)
    assert index.set_index("clip_id").loc[table["clip_id"], "has_audio"].tolist() == table["has_audio"].tolist()
