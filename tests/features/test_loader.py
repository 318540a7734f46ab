"""Training loaders: record contents, iterable splitting over workers/ranks, collation."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from omnihuman_pipeline.features.codec import PatchifyCodec, to_uint8
from omnihuman_pipeline.features.config import FeatureConfig
from omnihuman_pipeline.features.loader import FeatureDataset, FeatureIterableDataset, collate_records
from omnihuman_pipeline.features.run import run_features
from omnihuman_pipeline.features.shards import FeatureStore


@pytest.fixture(scope="module")
def cached(tmp_path_factory, clips_table, tiny_params):
    """Index and shard folder after one run over the fixture clips."""
    tmp_path = tmp_path_factory.mktemp("cached")
    index, _ = run_features(clips_table, FeatureStore.at(str(tmp_path / "s")), FeatureConfig.from_params(tiny_params))
    index_path = tmp_path / "features.parquet"
    index.to_parquet(index_path)
    return str(index_path), str(tmp_path / "s")


def test_record_contents(cached, clip_dir):
    """A record holds latents, the reference latent, audio, text + mask, pose, flags; latents decode to the clip."""
    from omnihuman_pipeline.features.clip_media import read_clip_video

    ds = FeatureDataset(*cached)
    assert sorted(ds.clip_ids) == ["a-000000", "b-000000", "c-000000", "s-000000"]
    rec = ds[ds.clip_ids.index("a-000000")]
    assert rec["latents"].shape == (768, 3, 4, 6) and rec["ref_latent"].shape == (768, 1, 4, 6)
    assert rec["audio"].shape == (9, 5, 384) and rec["text"].shape == (8, 384) and rec["text_mask"].dtype == torch.bool
    assert rec["pose"].shape == (3, 9, 32, 48) and rec["eligible_P"] and rec["eligible_T"]
    assert rec["backends"] == {"video": "patchify", "audio": "whisper", "text": "minilm", "pose": "keypoints"}
    frames = read_clip_video(clip_dir / "a.mp4", short_side=32, multiple=16, fps=25, max_frames=0, min_frames=5).frames
    codec = PatchifyCodec()
    assert (to_uint8(codec.decode(rec["latents"])) == frames).all()
    assert (to_uint8(codec.decode(rec["ref_latent"]))[0] == frames[rec["ref_frame"]]).all()
    other = ds[ds.clip_ids.index("b-000000")]
    assert other["audio"] is None and other["pose"] is None


def test_iterable_splits_shards_across_ranks_and_workers(cached):
    """Two ranks x two workers see every clip exactly once; a shuffled epoch is a permutation."""
    seen = []
    for rank in range(2):
        ds = FeatureIterableDataset(*cached, rank=rank, world_size=2, render_pose=False)
        loader = DataLoader(ds, batch_size=None, num_workers=2)
        seen += [r["clip_id"] for r in loader]
    assert sorted(seen) == ["a-000000", "b-000000", "c-000000", "s-000000"]
    shuffled = FeatureIterableDataset(*cached, shuffle=True, seed=3)
    shuffled.set_epoch(1)
    assert sorted(r["clip_id"] for r in shuffled) == sorted(seen)


def test_collate_stacks_equal_shapes_and_lists_the_rest(cached):
    """Equal-shaped tensors stack, flags become a bool tensor, None and ragged values stay lists."""
    ds = FeatureDataset(*cached, render_pose=False)
    batch = collate_records([ds[0], ds[1]])
    assert batch["text"].shape == (2, 8, 384) and batch["eligible_T"].dtype == torch.bool
    assert isinstance(batch["clip_id"], list)


def test_a_window_reads_only_its_rows_and_equals_the_record_cut(cached):
    """`window` gives the record's latents, audio and keypoints of those frames, latents in storage form."""
    from omnihuman_pipeline.features.codec import dequantize

    ds = FeatureDataset(*cached, render_pose=False)
    i = ds.clip_ids.index("a-000000")
    rec = ds[i]
    win = ds.window(i, range(1, 3), range(4, 9))
    assert win["latents"].dtype == torch.uint8 and win["latents"].shape == (768, 2, 4, 6)
    assert torch.equal(dequantize(win["latents"], win["scale"], win["offset"]), rec["latents"][:, 1:3])
    assert torch.equal(dequantize(win["ref_latent"], win["scale"], win["offset"]), rec["ref_latent"])
    assert torch.equal(win["audio"], rec["audio"][4:9]) and torch.equal(win["text"], rec["text"])
    for name in ("body", "hands"):
        torch.testing.assert_close(win["pose_keypoints"][name], rec["pose_keypoints"][name][4:9], rtol=0, atol=0,
                                   equal_nan=True)
    bare = ds.window(i, range(0, 1), range(0, 1), audio=False, pose=False)
    assert bare["audio"] is None and bare["pose_keypoints"] is None


def test_latents_are_stored_time_major_and_channel_major_shards_still_read(cached, tmp_path):
    """New shards hold [T, C, h, w]; an entry without a layout (older shards) reads as [C, T, h, w], windows too."""
    from omnihuman_pipeline.features.shards import PendingEntry

    index = pd.read_parquet(cached[0])
    store = FeatureStore.at(cached[1])
    row = index[index["clip_id"] == "a-000000"].iloc[0]
    entry = next(e for e in store.entries() if e.clip_id == "a-000000" and e.kind == "video")
    assert entry.meta["layout"] == "TCHW"
    assert list(store.header(entry.shard)["tensors"][entry.tensors["latents"]]["shape"]) == [3, 768, 4, 6]
    ds = FeatureDataset(*cached)
    rec = ds[ds.clip_ids.index("a-000000")]
    # the same clip in the older channel-major layout
    old = FeatureStore.at(str(tmp_path / "old"))
    tensors = {k: v for k, v in store.read(entry).items()}
    meta = {k: v for k, v in entry.meta.items() if k != "layout"}
    moved = {e.kind: e for e in old.write_shard(
        [PendingEntry("a-000000", "video", entry.hash, entry.backend,
                      {k: v.permute(1, 0, 2, 3).contiguous() for k, v in tensors.items()}, meta)]
        + [PendingEntry("a-000000", e.kind, e.hash, e.backend, store.read(e), e.meta)
           for e in store.entries() if e.clip_id == "a-000000" and e.kind != "video"])}
    old_row = row.copy()
    for kind, e in moved.items():
        old_row[f"{kind}_shard"] = e.shard
    legacy = FeatureDataset(pd.DataFrame([old_row]), old)
    assert torch.equal(legacy[0]["latents"], rec["latents"]) and torch.equal(legacy[0]["ref_latent"], rec["ref_latent"])
    assert torch.equal(legacy.window(0, range(1, 3), range(4, 9))["latents"],
                       ds.window(ds.clip_ids.index("a-000000"), range(1, 3), range(4, 9))["latents"])
