"""Training data: the video split, the Principle 1 mix, windows aligned to one frame, resumable plans, faults."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from omnihuman_pipeline.features.loader import FeatureDataset, render_pose_window
from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.training.conditions import Ratios
from omnihuman_pipeline.training.config import DataSettings
from omnihuman_pipeline.training.data import (
    OmniDataModule,
    TrainingDataError,
    TrainPlan,
    WindowDataset,
    build_pools,
    clip_refs,
    num_motion_latents,
    split_videos,
    validation_plans,
)

FLOW = {"scheme": "logit_normal", "mean": 0.0, "std": 1.0, "shift": 1.0}
SPECS = [ClipSpec("va", A=True, P=True), ClipSpec("vb", A=True), ClipSpec("vc", P=True), ClipSpec("vd"),
         ClipSpec("ve"), ClipSpec("vf", A=True, P=True), ClipSpec("vg", P=True), ClipSpec("vh")]


@pytest.fixture
def cache(tmp_path):
    return make_cache(tmp_path, SPECS)


def test_split_holds_out_whole_videos_and_keeps_every_kind_in_both_splits(tmp_path):
    """Validation takes whole videos (round(0.4 x 8) = 3), with A, P and T-only clips, and training keeps each kind."""
    refs = clip_refs(make_cache(tmp_path, SPECS + [ClipSpec("va"), ClipSpec("vb", A=True)])[0])
    val = split_videos(refs, fraction=0.4, min_videos=1, seed=0)
    train = [c for c in refs if c.video_id not in val]
    assert not {c.video_id for c in train} & val
    t_only = [c for c in refs if not (c.eligibility.A or c.eligibility.P)]
    for kind in (lambda c: c.eligibility.A, lambda c: c.eligibility.P, lambda c: c in t_only):
        assert any(kind(c) for c in refs if c.video_id in val) and any(kind(c) for c in train)
    assert len(val) == 3 and split_videos(refs, 0.4, 1, seed=0) == val


def test_t_only_fraction_adds_t_only_clips_without_changing_the_conditioned_draws(cache):
    """Principle 1 variants: same conditioned clip wherever both draw one; T-only share grows with the fraction."""
    index, _ = cache
    refs = clip_refs(index)
    plans = {f: TrainPlan(build_pools(refs, ("text", "audio"), f, 0), ("text", "audio"), Ratios(), 4, 0.0, 2, 0)
             for f in (0.0, 1.0)}
    draws = {f: [p for k in range(500) for p in plans[f].batch(k)] for f in plans}
    assert all(p.part == "conditioned" for p in draws[0.0])
    share = sum(p.part == "t_only" for p in draws[1.0]) / len(draws[1.0])
    assert abs(share - 5 / 8) < 0.05  # 5 of the 8 clips are not A-eligible
    same = [(a.clip_id, b.clip_id) for a, b in zip(draws[0.0], draws[1.0], strict=True) if b.part == "conditioned"]
    assert same and all(a == b for a, b in same)


def test_plans_are_a_pure_function_of_the_position(cache):
    """Batch k is the same whether computed first or after 1,000 others, and differs between ranks."""
    refs = clip_refs(cache[0])
    pools = build_pools(refs, ("text", "audio", "pose"), 1.0, 0)
    plan = TrainPlan(pools, ("text", "audio", "pose"), Ratios(), 4, 0.5, 2, seed=3)
    later = [plan.batch(k) for k in range(1000)][777]
    assert TrainPlan(pools, ("text", "audio", "pose"), Ratios(), 4, 0.5, 2, seed=3).batch(777) == later
    assert TrainPlan(pools, ("text", "audio", "pose"), Ratios(), 4, 0.5, 2, seed=3, rank=1).batch(777) != later
    motion = [p.n_motion > 0 for k in range(400) for p in plan.batch(k)[:1]]
    assert abs(sum(motion) / 400 - 0.5) < 0.08


def test_windows_align_video_audio_and_pose_to_one_frame(cache):
    """A window at latent s: latents s..s+T-1, motion s-Tm..s-1, audio and pose maps of pixel frames 4s..4(s+T-1)."""
    index, store = cache
    features = FeatureDataset(index, store, render_pose=False)
    windows = WindowDataset(features, 4, FLOW, with_audio=True, with_pose=True)
    refs = clip_refs(index)
    plan = TrainPlan(build_pools(refs, ("text", "audio", "pose"), 1.0, 0), ("text", "audio", "pose"),
                     Ratios(1.0, 1.0, 1.0), 4, 1.0, 1, 0)
    checked = 0
    for k in range(40):
        p = plan.batch(k)[0]
        if not (p.active.pose and p.active.audio):
            continue
        s = windows[p]
        c = p.row
        assert p.n_motion == num_motion_latents(4) == 2 and p.start >= 2
        assert s["latents"][0, :, 0, 0].tolist() == [100 * c + p.start + j for j in range(4)]
        assert s["motion_latents"][0, :, 0, 0].tolist() == [100 * c + p.start - 2, 100 * c + p.start - 1]
        assert s["audio"][:, 0, 0].tolist() == list(range(4 * p.start, 4 * (p.start + 3) + 1))
        full = FeatureDataset(index, store, render_pose=True)[c]["pose"]
        assert torch.equal(s["pose"], full[:, 4 * p.start: 4 * (p.start + 3) + 1])
        assert torch.equal(s["pose"], render_pose_window(features[c], range(4 * p.start, 4 * p.start + 13)))
        checked += 1
    assert checked >= 5


def test_validation_samples_are_fixed_and_cover_each_eligible_task(cache):
    """Validation plans do not depend on the stage; tasks follow eligibility; sigmas sit on the (j + 0.5)/n grid."""
    refs = clip_refs(cache[0])
    plans = validation_plans(refs, 4, 2, seed=0)
    assert plans == validation_plans(refs, 4, 2, seed=0)
    tasks = Counter(p.active.task for p in plans)
    assert tasks == {"text": 16, "audio": 2 * 3, "pose": 2 * 4}
    assert {p.sigma for p in plans} == {0.25, 0.75}


def _module(index, store, conditions, **data):
    settings = DataSettings(window_latent_frames=4, batch_size=2, num_workers=0, val_fraction=0.25, **data)
    return OmniDataModule(index, store, conditions=conditions, ratios=Ratios(), t_only_fraction=1.0, data=settings,
                          flow=FLOW, with_audio="audio" in conditions, with_pose="pose" in conditions,
                          total_micro_batches=10)


def test_loader_resumes_at_the_saved_position(cache):
    """load_state_dict({'position': k}) makes the loader start at batch k of an uninterrupted pass."""
    dm = _module(*cache, ("text", "audio"))
    dm.setup("fit")
    full = [b["clip_id"] for b in dm.train_dataloader()]
    loader = dm.train_dataloader()
    loader.load_state_dict({"position": 6})
    assert [b["clip_id"] for b in loader] == full[6:]


def test_damaged_shards_are_skipped_and_counted(cache, tmp_path):
    """A truncated shard's clips are left out at setup and named in `skipped`; training data is still there."""
    index, store = cache
    shard = sorted(index["video_shard"])[0]
    path = tmp_path / "shards" / shard
    path.write_bytes(path.read_bytes()[:-64])
    dm = _module(index, store, ("text",))
    dm.setup("fit")
    lost = set(index.loc[index["video_shard"] == shard, "clip_id"])
    assert set(dm.skipped) == lost and all("truncated" in r for r in dm.skipped.values())
    assert not lost & {c.clip_id for c in dm.train_clips + dm.val_clips}


def test_clear_errors_for_data_that_cannot_train_a_stage(tmp_path):
    """No A-eligible training clip for an audio stage names the count and the curate rules; no T clip fails early."""
    import pandas as pd

    index, store = make_cache(tmp_path / "a", [ClipSpec(f"v{i}") for i in range(4)])
    clips = pd.DataFrame({"reasons": [["A:sync_conf<2.5"], ["A:sync_conf<2.5", "A:no_audio"], [], []]})
    dm = OmniDataModule(index, store, conditions=("text", "audio"), ratios=Ratios(), t_only_fraction=1.0,
                        data=DataSettings(window_latent_frames=4, num_workers=0), flow=FLOW, with_audio=True,
                        with_pose=False, total_micro_batches=4, clips=clips)
    with pytest.raises(TrainingDataError, match=r"0 of the 3 T-eligible training clips are A-eligible.*sync_conf<2.5 \(2\)"):
        dm.setup("fit")
    failed = index.assign(status="decode_failed")
    with pytest.raises(TrainingDataError, match="every T-eligible clip failed"):
        _module(failed, store, ("text",)).setup("fit")
    with pytest.raises(TrainingDataError, match="no T-eligible clip"):
        _module(index.assign(eligible_T=False), store, ("text",)).setup("fit")


def test_samples_are_compact_and_expand_to_the_record_window(tmp_path):
    """A sample holds stored uint8 latents and a noise seed; `expand_batch` dequantises to the record's
    window and draws each sample's noise from its seed (the same noise however the batch is formed)."""
    from omnihuman_pipeline.training.data import collate_samples, expand_batch, seeded_noise

    index, store = make_cache(tmp_path, [ClipSpec("v0", n_frames=49), ClipSpec("v1", n_frames=49)], marked=False,
                              quantized=True)
    features = FeatureDataset(index, store, render_pose=False)
    windows = WindowDataset(features, 4, FLOW, with_audio=False, with_pose=False)
    plan = TrainPlan(build_pools(clip_refs(index), ("text",), 1.0, 0), ("text",), Ratios(), 4, 1.0, 2, 0)
    plans = plan.batch(0)
    samples = [windows[p] for p in plans]
    assert samples[0]["latents"].dtype == torch.uint8 and "noise" not in samples[0]
    batch = expand_batch(collate_samples(samples))
    for i, p in enumerate(plans):
        rec = features[p.row]
        assert torch.equal(batch["latents"][i], rec["latents"][:, p.start:p.start + 4])
        assert torch.equal(batch["motion_latents"][i], rec["latents"][:, p.start - 2:p.start])
        assert torch.equal(batch["ref_latents"][i], rec["ref_latent"])
        assert torch.equal(batch["noise"][i], seeded_noise(batch["latents"][i:i + 1].shape, [p.noise_seed], "cpu")[0])
    assert batch["latents"].dtype == torch.float32 and "noise_seed" not in batch
    assert abs(float(batch["noise"].std()) - 1.0) < 0.01 and not torch.equal(batch["noise"][0], batch["noise"][1])
    again = expand_batch(collate_samples([windows[p] for p in reversed(plans)]))
    assert torch.equal(again["noise"][0], batch["noise"][1])
    assert expand_batch(batch) is batch  # an expanded batch passes through


def test_a_sample_reads_its_window_not_its_clip(tmp_path):
    """The bytes a training sample reads follow its window: 6 of a 13-latent clip's frames, not the whole clip."""
    index, store = make_cache(tmp_path, [ClipSpec("v0", n_frames=49, size=(16, 20))], channels=768, marked=False,
                              quantized=True)
    read: list[int] = []
    cat_file = store.fs.cat_file

    def counting(path, start=None, end=None, **kwargs):
        data = cat_file(path, start=start, end=end, **kwargs)
        read.append(len(data))
        return data

    store.fs.cat_file = counting
    windows = WindowDataset(FeatureDataset(index, store, render_pose=False), 4, FLOW, with_audio=True, with_pose=True)
    plan = TrainPlan(build_pools(clip_refs(index), ("text",), 1.0, 0), ("text",), Ratios(), 4, 1.0, 1, 0).batch(0)[0]
    assert plan.n_motion == 2
    windows[plan]
    frame = 768 * 16 * 20  # one latent frame of uint8 (128x160 px), 240 KB
    assert max(read) == 6 * frame  # the window's 6 latent frames in one ranged read (the clip has 13)
    assert sum(read) < 7 * frame + 64 * 1024  # + the reference latent, the text and the small tensors


def test_a_clip_with_damaged_tensor_bytes_is_skipped_and_counted_in_training(cache, tmp_path):
    """Bytes flipped inside one clip's text states (header intact): every batch still comes, without that clip,
    and the clip is named in the batches' `skipped`."""
    from tests.features.test_shards import _damage

    index, store = cache
    dm = _module(index, store, ("text",))
    dm.setup("fit")
    victim = dm.train_clips[0]
    entry = next(e for e in store.entries() if e.clip_id == victim.clip_id and e.kind == "text")
    _damage(store, entry, "states", offset=8, length=64)
    batches = list(dm.train_dataloader())
    assert batches and victim.clip_id not in {c for b in batches for c in b["clip_id"]}
    assert victim.clip_id in {c for b in batches for c in b.get("skipped", [])}


def test_features_behind_the_clip_table_are_counted():
    """New eligible clips, removed clips and changed eligibility are each counted; a current cache counts none."""
    import pandas as pd

    from omnihuman_pipeline.training.data import stale_features

    index = pd.DataFrame({"clip_id": ["a", "b", "c"], "eligible_T": [True] * 3, "eligible_A": [True, False, False],
                          "eligible_P": [False] * 3})
    assert stale_features(index, index.copy()) == {"missing": 0, "gone": 0, "changed": 0}
    clips = pd.DataFrame({"clip_id": ["a", "b", "d", "e"], "eligible_T": [True, True, True, False],
                          "eligible_A": [False, False, False, False], "eligible_P": [False] * 4})
    assert stale_features(index, clips) == {"missing": 1, "gone": 1, "changed": 1}
