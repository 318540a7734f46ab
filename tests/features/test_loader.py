"""Training loaders: record contents, iterable splitting over workers/ranks, collation."""

from __future__ import annotations

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
