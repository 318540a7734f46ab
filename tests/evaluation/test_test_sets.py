"""Test-set resolution: the training split's held-out clips, folder test sets, bad specs and empty sets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from omnihuman_pipeline.evaluation.test_sets import (
    EvaluationError,
    TestVideo,
    clip_media_path,
    folder_videos,
    resolve_test_sets,
    subsample,
    validation_clip_ids,
    validation_videos,
)

from .conftest import clips_table, features_index

CLIPS = [(f"v{i}-c{j}", f"v{i}", i % 3 == 0, i % 2 == 0) for i in range(8) for j in range(1 + i % 2)]
TRAIN = {"data": {"val_fraction": 0.25, "val_min_videos": 1, "seed": 0}}


def test_validation_clips_are_the_videos_training_held_out(tmp_path):
    """The clips evaluation picks are exactly the validation clips of the training data module on the same index and
    shards (one shard damaged), for three split seeds."""
    from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
    from omnihuman_pipeline.training.conditions import Ratios
    from omnihuman_pipeline.training.config import DataSettings
    from omnihuman_pipeline.training.data import OmniDataModule

    specs = [ClipSpec(f"v{i}", A=i % 3 == 0, P=i % 2 == 0) for i in range(8)] + [ClipSpec("v1"), ClipSpec("v4")]
    index, store = make_cache(tmp_path, specs, clips_per_shard=1)
    damaged = Path(store.path(sorted(set(index["video_shard"]))[0]))
    damaged.write_bytes(damaged.read_bytes()[:64])  # training leaves this shard's clip out before it splits
    for seed in (0, 1, 2):
        data = DataSettings(window_latent_frames=4, num_workers=0, val_fraction=0.25, seed=seed)
        module = OmniDataModule(index, store, conditions=("text",), ratios=Ratios(), t_only_fraction=1.0,
                                data=data, flow={"shift": 1.0}, with_audio=False, with_pose=False,
                                total_micro_batches=2)
        module.setup()
        train = {"data": {"val_fraction": 0.25, "val_min_videos": 1, "seed": seed}}
        assert validation_clip_ids(index, train, store) == [c.clip_id for c in module.val_clips]
        held_out = {c.video_id for c in module.val_clips}
        assert held_out and not held_out & {c.video_id for c in module.train_clips}
    seed0 = {"data": {"val_fraction": 0.25, "val_min_videos": 1, "seed": 0}}
    assert validation_clip_ids(index, seed0) != validation_clip_ids(index, seed0, store)  # the damaged shard counts


def test_validation_videos_take_media_caption_and_pose_from_the_clips_table():
    """A held-out clip's media, caption and pose come from its clips row; `eligible` keeps the A or P clips only."""
    features = features_index(CLIPS)
    ids = validation_clip_ids(features, TRAIN)
    media = {c: f"data/02_intermediate/clips/{c}.mp4" for c, *_ in CLIPS}
    clips = clips_table(CLIPS, media, pose={c: f"data/02_intermediate/clips/{c}.pose.npz" for c, *_ in CLIPS})
    videos = validation_videos(ids, clips)
    assert [v.video_id for v in videos] == ids and all(v.error is None for v in videos)
    first = clips.set_index("clip_id").loc[ids[0]]
    assert (videos[0].media, videos[0].pose, videos[0].caption) == (first["clip_path"], first["pose_arrays"],
                                                                    first["caption"])
    only_a = validation_videos(ids, clips, eligible="A")
    assert [v.video_id for v in only_a] == [c for c, _, a, _ in CLIPS if c in ids and a]


def test_clip_media_prefers_media_path_when_the_table_has_it():
    """`media_path` wins where the column exists (empty: no media written), else `clip_path`."""
    assert clip_media_path({"clip_path": "a.mp4"}) == "a.mp4"
    assert clip_media_path({"clip_path": "a.mp4", "media_path": "b.mp4"}) == "b.mp4"
    assert clip_media_path({"clip_path": "a.mp4", "media_path": ""}) is None
    ids = ["v0-c0", "v1-c0"]
    table = clips_table([("v0-c0", "v0", True, True)], {"v0-c0": "x.mp4"}).assign(media_path="")
    unwritten, missing = validation_videos(ids, table)
    assert unwritten.media is None and unwritten.error.startswith("no_media")
    assert missing.error.startswith("not_in_clips_table")


def test_a_clip_without_media_is_read_from_its_source_span():
    """With `media.write_clips: none` a held-out clip has no file; its span of the source video stands in for it."""
    from omnihuman_pipeline.media.clip_source import ClipSpan

    span = {"source_path": "/data/01_raw/v0.mp4", "source_t0_s": 0.0, "start_frame": 50, "end_frame": 150,
            "media_fps": 25, "media_width": 1280, "media_height": 720}
    table = clips_table([("v0-c0", "v0", True, True)], {}).assign(media_path="", **span)
    (video,) = validation_videos(["v0-c0"], table)
    assert video.error is None and video.media is None
    assert video.span == ClipSpan("/data/01_raw/v0.mp4", 50, 150, 25, 0.0, 1280, 720) and video.source == video.span


def test_no_validation_videos_is_a_clear_error():
    """One video cannot be split; an empty features index asks for the features pipeline."""
    with pytest.raises(EvaluationError, match="no validation videos.*1 video"):
        validation_clip_ids(features_index([("v0-c0", "v0", True, True), ("v0-c1", "v0", True, True)]), TRAIN)
    with pytest.raises(EvaluationError, match="kedro run --pipeline=features"):
        validation_clip_ids(pd.DataFrame(columns=["clip_id", "status"]), TRAIN)


def test_folder_test_set_lists_videos_and_their_keypoints(test_folder):
    """Every video under the folder (hidden files skipped, bad files kept for their per-video status), with the
    `<name>.pose.npz` beside it."""
    videos = {v.video_id: v for v in folder_videos(test_folder)}
    assert sorted(videos) == ["broken", "good_a", "good_b", "silent_track"]
    assert videos["good_b"].pose.endswith("good_b.pose.npz") and videos["good_a"].pose is None
    assert videos["broken"].media.endswith("broken.mp4") and videos["broken"].error is None


def test_resolve_test_sets_in_configuration_order(test_folder):
    """Validation and folder sets, labels and drives from the spec; a None spec is left out."""
    specs = {"validation": {"drives": ["audio", "audio_pose"]}, "gone": None,
             "mine": {"source": "folder", "folder": test_folder.name, "label": "Mine", "max_videos": 2}}
    sets = resolve_test_sets(specs, features=features_index(CLIPS), clips=clips_table(CLIPS, {}), train=TRAIN,
                             media_root=test_folder.parent)
    assert [(s.name, s.label, s.drives) for s in sets] == [("validation", "validation", ("audio", "audio_pose")),
                                                           ("mine", "Mine", ("audio",))]
    assert len(sets[1].videos) == 2


@pytest.mark.parametrize("spec, match", [
    ({"source": "web"}, "source must be one of"), ({"drives": ["dance"]}, "drives must be"),
    ({"source": "folder"}, "names its `folder`"), ({"colour": 1}, "unknown keys"),
    ({"source": "folder", "folder": "nowhere"}, "does not exist")])
def test_bad_specs_name_what_to_fix(tmp_path, spec, match):
    """Each configuration error says what is wrong."""
    with pytest.raises(EvaluationError, match=match):
        resolve_test_sets({"t": spec}, features=features_index(CLIPS), clips=clips_table(CLIPS, {}), train=TRAIN,
                          media_root=tmp_path)


def test_subsample_is_seeded_and_keeps_order():
    """A seeded subset of the asked size, in the original order; the same seed gives the same subset."""
    videos = tuple(TestVideo(f"v{i}", f"v{i}.mp4") for i in range(20))
    a, b, c = subsample(videos, 5, 0), subsample(videos, 5, 0), subsample(videos, 5, 1)
    assert a == b and len(a) == 5 and a != c
    assert [videos.index(v) for v in a] == sorted(videos.index(v) for v in a)
    assert subsample(videos, None, 0) == videos
