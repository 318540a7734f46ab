"""Training data over the feature shards: windows, buckets, conditions, a video-level validation split.

Every sample is a pure function of ``(seed, rank, micro-batch position, slot)``: which clip, where
its window starts, whether it carries motion frames, which conditions are active, its noise and
sigma. Resuming therefore only needs the position (``global_step × accumulation``), which the
loader saves and restores through Lightning's stateful-dataloader interface, and two runs from the
same checkpoint see exactly the same batches.

* **Windows** (paper §3.2, §3.4). A sample is ``window_latent_frames`` noisy latent frames. With
  motion frames (probability ``motion_probability``, decided per micro-batch so a batch stacks) the
  window starts at latent s >= Tm and the Tm latents before it (those holding the 5 pixel frames
  just before the window) are the clean motion latents, as in long-video continuation; without
  them the window starts at the clip's first latent, as a first generated segment does. Audio
  features and pose maps are cut to the window's pixel frames (``window_pixel_frames``).
* **Buckets.** A micro-batch draws one latent shape (C, h, w), weighted by its clips, so it stacks.
* **Mix** (Principle 1). Conditioned clips (eligible for a driving condition the stage trains) and
  the stage's share of T-only clips form the pool; each slot picks the T-only part with the
  probability of its share of clips, and draws its clip from each part with a random stream of
  its own, so variants differing only in ``t_only_fraction`` see the same sequence of conditioned
  clips within a bucket.
* **Ranks.** Shards are dealt to ranks (``shards[rank::world]``); a rank reads only its own.
* **Reads.** A sample reads only its window (latents are stored time-major, so a window is one
  ranged read) and is returned compact: stored-dtype latents and a noise seed, expanded on the
  model's device by :func:`expand_batch` (the data module's ``on_after_batch_transfer``).
* **Validation.** Held-out videos (``split_videos``); per clip and task (text, audio, pose — each
  where the clip is eligible) fixed windows with fixed noise and sigmas on a grid, independent of
  the stage, so validation losses compare across stages, runs and ablation variants.
* **Faults.** Clips in unreadable or truncated shards are left out at setup; a clip whose tensors
  fail to read later is replaced by another draw of its part of the pool. Both are counted.
"""

from __future__ import annotations

import bisect
import logging
import random
import struct
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from omnihuman_pipeline.features.loader import FeatureDataset, render_pose_window
from omnihuman_pipeline.features.shards import FeatureStore
from omnihuman_pipeline.models.latent_layout import (
    NUM_MOTION_PIXEL_FRAMES,
    motion_latent_frames,
    num_pixel_frames,
    window_pixel_frames,
)
from omnihuman_pipeline.training.conditions import (
    TASKS,
    Active,
    Eligibility,
    Ratios,
    active_conditions,
    is_t_only,
    unit_hash,
    uses_t_only_clip,
)
from omnihuman_pipeline.training.flow_matching import sample_sigmas
from omnihuman_pipeline.training.mouth_weight import mouth_weight_map

SIGMA_KEYS = ("scheme", "mean", "std", "shift")

logger = logging.getLogger(__name__)

VAL_TASKS = ("text", "audio", "pose")
TASK_CONDITIONS = {"text": Active(True, False, False), "audio": Active(True, True, False)}


class TrainingDataError(ValueError):
    """The features cannot feed the requested stage (no clips, no eligible clips, …)."""


def num_motion_latents(window_latent_frames: int) -> int:
    """Latent frames holding the last 5 pixel frames of a window-long segment (2 for the causal VAE)."""
    return len(motion_latent_frames(num_pixel_frames(window_latent_frames), NUM_MOTION_PIXEL_FRAMES))


def int_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` (stable across processes)."""
    return int(unit_hash(*parts) * 2**63)


# --------------------------------------------------------------------------------------------------
# Clips and the split
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipRef:
    """One usable clip of the features index."""

    row: int
    clip_id: str
    video_id: str
    shard: str
    bucket: tuple[int, int, int]
    n_latent: int
    eligibility: Eligibility


def clip_refs(index: pd.DataFrame) -> list[ClipRef]:
    """The ``ok`` rows of a features index (in the order ``FeatureDataset`` keeps them)."""
    ok = index[index["status"] == "ok"].reset_index(drop=True)
    return [ClipRef(i, str(r["clip_id"]), str(r["video_id"]), str(r["video_shard"]),
                    (int(r["latent_channels"]), int(r["height"]) // 8, int(r["width"]) // 8), int(r["n_latent_frames"]),
                    Eligibility(bool(r["eligible_T"]), bool(r["eligible_A"]), bool(r["eligible_P"])))
            for i, r in enumerate(ok.to_dict("records"))]


def split_videos(clips: list[ClipRef], fraction: float, min_videos: int, seed: int) -> set[str]:
    """Validation videos: a seeded ``fraction`` of the videos (at least ``min_videos``), stratified.

    Videos are taken in a seeded hash order; first one video with A-eligible clips, one with
    P-eligible clips and one with T-only clips, each only where at least two videos have such clips
    (so training keeps one), then those whose kinds of clips are the most common (sorted is stable,
    so ties keep the hash order). No video is in both splits.

    Returns:
        The validation ``video_id`` s (empty when there is a single video).
    """
    videos: dict[str, set[str]] = defaultdict(set)
    for c in clips:
        videos[c.video_id] |= {k for k in ("A", "P") if getattr(c.eligibility, k)} or {"T"}
    order = sorted(videos, key=lambda v: unit_hash("split", seed, v))
    n_val = min(max(min_videos, round(fraction * len(order))), len(order) - 1)
    chosen: list[str] = []
    for kind in ("A", "P", "T"):
        having = [v for v in order if kind in videos[v]]
        if len(having) >= 2 and len(chosen) < n_val and not any(kind in videos[v] for v in chosen):
            chosen.append(having[0])
    # fill with the videos whose kinds of clips are the most common, so scarce A/P clips stay in training
    count = Counter(kind for kinds in videos.values() for kind in kinds)
    rest = sorted((v for v in order if v not in chosen), key=lambda v: sum(1 / count[k] for k in videos[v]))
    chosen += rest[: max(0, n_val - len(chosen))]
    return set(chosen)


def readable_shards(store: FeatureStore, shards: set[str]) -> dict[str, str]:
    """Shards whose header parses and whose file holds every tensor it declares; else the reason."""
    bad: dict[str, str] = {}
    for shard in sorted(shards):
        try:
            header = store.header(shard)
            end = max((t["data_offsets"][1] for t in header["tensors"].values()), default=0)
            size = store.fs.size(store.path(shard))
            if size < header["data_start"] + end:
                bad[shard] = f"truncated: {size} of {header['data_start'] + end} bytes"
        except (OSError, ValueError, KeyError, struct.error) as err:
            bad[shard] = f"unreadable: {type(err).__name__}: {err}"
    return bad


# --------------------------------------------------------------------------------------------------
# The sampling plan
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplePlan:
    """Everything random about one sample (pure data; the dataset turns it into tensors)."""

    row: int
    clip_id: str
    start: int
    n_motion: int
    active: Active
    noise_seed: int
    sigma: float | None = None
    part: str = "conditioned"
    redraw: tuple[str, ...] = ()  # clips that failed to read before this one was drawn


@dataclass
class Pool:
    """A bucket's clips for one stage: the conditioned part and the T-only part."""

    conditioned: list[ClipRef] = field(default_factory=list)
    t_only: list[ClipRef] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.conditioned) + len(self.t_only)


def build_pools(clips: list[ClipRef], conditions: tuple[str, ...], t_only_fraction: float, seed: int
                ) -> dict[tuple[int, int, int], Pool]:
    """Bucket -> pool of a stage: T clips, with only ``t_only_fraction`` of the T-only ones (Principle 1)."""
    pools: dict[tuple[int, int, int], Pool] = defaultdict(Pool)
    for c in clips:
        if not c.eligibility.T:
            continue
        if is_t_only(c.eligibility, set(conditions)):
            if uses_t_only_clip(c.clip_id, t_only_fraction, seed):
                pools[c.bucket].t_only.append(c)
        else:
            pools[c.bucket].conditioned.append(c)
    return {b: p for b, p in sorted(pools.items()) if len(p)}


class TrainPlan:
    """Micro-batch position -> the batch's :class:`SamplePlan` s, for one rank.

    Args:
        pools: bucket -> pool (this rank's clips).
        conditions: the stage's driving conditions.
        ratios: Principle 2 ratios.
        window: noisy latent frames per sample.
        motion_probability: share of micro-batches with motion frames.
        batch_size: samples per micro-batch.
        seed: base seed.
        rank: the rank (each rank has its own streams).
    """

    def __init__(self, pools: dict[tuple[int, int, int], Pool], conditions: tuple[str, ...], ratios: Ratios,
                 window: int, motion_probability: float, batch_size: int, seed: int, rank: int = 0):
        self.conditions, self.ratios, self.window = frozenset(conditions), ratios, window
        self.n_motion = num_motion_latents(window)
        self.motion_probability, self.batch_size, self.seed, self.rank = motion_probability, batch_size, seed, rank
        self.pools = {b: p for b, p in pools.items() if any(c.n_latent >= window for c in [*p.conditioned, *p.t_only])}
        if not self.pools:
            raise TrainingDataError(f"no clip has the {window} latent frames of a training window")
        self.buckets = list(self.pools)
        weights = np.cumsum([len(self.pools[b]) for b in self.buckets], dtype=np.float64)
        self.cumulative = list(weights / weights[-1])

    def batch(self, position: int) -> list[SamplePlan]:
        """The plans of micro-batch ``position`` (0-based, counted over the whole stage)."""
        parts, motion = self._parts(position)
        return [self._slot(position, slot, parts, motion) for slot in range(self.batch_size)]

    def redraw(self, plan: SamplePlan, position: int, slot: int) -> SamplePlan:
        """Another clip for a slot whose clip failed to read: same part of the pool, failed clips left out."""
        parts, motion = self._parts(position)
        failed = {*plan.redraw, plan.clip_id}
        members = [c for c in parts[plan.part] if c.clip_id not in failed]
        if not members:
            raise TrainingDataError(f"every {plan.part} clip of this bucket failed to read: {sorted(failed)}")
        return self._slot(position, slot, {plan.part: members}, motion, part=plan.part,
                          redraw=(*plan.redraw, plan.clip_id))

    def _parts(self, position: int) -> tuple[dict[str, list[ClipRef]], bool]:
        """The micro-batch's bucket and motion choice, as the two parts of its pool that fit the window."""
        rng = random.Random(int_seed("batch", self.seed, self.rank, position))
        pool = self.pools[self.buckets[bisect.bisect_left(self.cumulative, rng.random())]]
        motion = rng.random() < self.motion_probability
        for with_motion in ((True, False) if motion else (False,)):  # too short for motion: go without
            need = self.window + (self.n_motion if with_motion else 0)
            parts = {name: [c for c in getattr(pool, name) if c.n_latent >= need] for name in ("conditioned", "t_only")}
            if parts["conditioned"] or parts["t_only"]:
                return parts, with_motion
        raise AssertionError("unreachable: buckets are kept only with a clip as long as the window")

    def _slot(self, position: int, slot: int, parts: dict[str, list[ClipRef]], motion: bool,
              part: str | None = None, redraw: tuple[str, ...] = ()) -> SamplePlan:
        key = (self.seed, self.rank, position, slot, len(redraw))
        if part is None:
            n_t_only, n_cond = len(parts["t_only"]), len(parts["conditioned"])
            part = "t_only" if unit_hash("part", *key) < n_t_only / (n_t_only + n_cond) else "conditioned"
        members = parts[part]
        clip = members[int(unit_hash(part, "clip", *key) * len(members))]
        start = 0
        if motion:
            span = clip.n_latent - self.window - self.n_motion
            start = self.n_motion + int(unit_hash("start", *key) * (span + 1))
        active = active_conditions(clip.eligibility, self.conditions, self.ratios, unit_hash("u", *key[:4]))
        return SamplePlan(clip.row, clip.clip_id, start, self.n_motion if motion else 0, active,
                          int_seed("noise", *key), part=part, redraw=redraw)


def validation_plans(clips: list[ClipRef], window: int, samples_per_task: int, seed: int) -> list[SamplePlan]:
    """Fixed validation samples: per clip, task and j a window, noise seed and sigma ``(j + 0.5) / n``.

    Independent of the stage and its ratios, so every stage and variant is scored on the same samples.
    Odd j carry motion frames where the clip is long enough.
    """
    n_motion = num_motion_latents(window)
    plans = []
    for clip in clips:
        if clip.n_latent < window or not clip.eligibility.T:
            continue
        for task in VAL_TASKS:
            if task != "text" and not clip.eligibility.allows(task):
                continue
            active = TASK_CONDITIONS.get(task) or Active(True, clip.eligibility.A, True)
            for j in range(samples_per_task):
                motion = j % 2 == 1 and clip.n_latent >= window + n_motion
                span = clip.n_latent - window - n_motion
                start = n_motion + int(unit_hash("val_start", seed, clip.clip_id, task, j) * (span + 1)) if motion else 0
                plans.append(SamplePlan(clip.row, clip.clip_id, start, n_motion if motion else 0, active,
                                        int_seed("val_noise", seed, clip.clip_id, task, j),
                                        sigma=(j + 0.5) / samples_per_task))
    return plans


# --------------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------------
class WindowDataset(Dataset):
    """:class:`SamplePlan` -> one sample's tensors in compact form, read from the shards.

    Only the window is read: its latent frames (one ranged read of the time-major latents), the
    reference latent, the text and the audio features and keypoints of its pixel frames. Latents stay
    in their stored dtype (uint8 for the default codec, 4x fewer bytes to stack and move than float32)
    with their ``latent_scale`` / ``latent_offset``, and each sample carries its ``noise_seed``
    instead of its noise: :func:`expand_batch` dequantises and draws the noise on the model's device.

    Args:
        features: the clips' :class:`FeatureDataset`.
        window: noisy latent frames.
        flow: ``FlowSettings`` fields (sigma sampling for training plans).
        with_audio: return audio features (the model has an audio branch).
        with_pose: return pose maps (the model has a pose guider).
    """

    def __init__(self, features: FeatureDataset, window: int, flow: dict[str, Any], with_audio: bool,
                 with_pose: bool):
        self.features, self.window = features, window
        self.flow = {k: flow[k] for k in SIGMA_KEYS if k in flow}  # how sigma is drawn (not what the net predicts)
        self.mouth_weight = float(flow.get("mouth_weight", 1.0))
        self.with_audio, self.with_pose = with_audio, with_pose
        self.audio_shape = audio_shape(pd.DataFrame(features.rows)) if with_audio else None

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, plan: SamplePlan) -> dict[str, Any]:
        s, tm = plan.start, plan.n_motion
        frames = window_pixel_frames(s, self.window)
        record = self.features.window(plan.row, range(s - tm, s + self.window), frames,
                                      audio=self.with_audio and plan.active.audio,
                                      pose=self.with_pose and plan.active.pose or self.mouth_weight != 1.0)
        return self.sample(record, plan)

    def sample(self, record: dict[str, Any], plan: SamplePlan) -> dict[str, Any]:
        """A sample from ``record``, a :meth:`FeatureDataset.window` of the plan's latent and pixel frames."""
        t, tm = self.window, plan.n_motion
        clip = record["latents"]  # [C, Tm + T, h, w]: the motion latents lead
        if plan.sigma is None:
            sigma = sample_sigmas(1, torch.Generator().manual_seed(int_seed("sigma", plan.noise_seed)), **self.flow)[0]
        else:
            sigma = torch.tensor(plan.sigma, dtype=torch.float32)
        frames = range(len(window_pixel_frames(plan.start, t)))
        out = {"clip_id": plan.clip_id, "task": plan.active.task,
               "task_index": torch.tensor(TASKS.index(plan.active.task)), "latents": clip[:, tm:],
               "ref_latents": record["ref_latent"], "latent_scale": torch.tensor(record["scale"]),
               "latent_offset": torch.tensor(record["offset"]),
               "noise_seed": torch.tensor(plan.noise_seed, dtype=torch.int64), "sigma": sigma,
               "text": record["text"], "text_mask": record["text_mask"], "text_on": plan.active.text,
               "skipped": list(plan.redraw)}
        if tm:
            out["motion_latents"] = clip[:, :tm]
        if self.with_audio:
            audio = record["audio"]
            on = plan.active.audio and audio is not None
            out["audio_on"] = on
            out["audio"] = audio if on else torch.zeros(len(frames), *self.audio_shape)
        if self.mouth_weight != 1.0:
            keypoints = record["pose_keypoints"]
            body = None if keypoints is None else keypoints["body"].numpy()[list(frames)]
            out["loss_weight"] = mouth_weight_map(body, t, clip.shape[2], clip.shape[3], self.mouth_weight)
        if self.with_pose:
            on = plan.active.pose and record["pose_keypoints"] is not None
            out["pose_on"] = on
            h, w = 8 * clip.shape[2], 8 * clip.shape[3]
            out["pose"] = render_pose_window(record, frames) if on else torch.zeros(3, len(frames), h, w,
                                                                                  dtype=torch.uint8)
        return out


def expand_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A compact batch (:class:`WindowDataset`) as the model step takes it, on the batch's device.

    Latents, motion and reference latents are dequantised to float32 and each sample's noise is drawn
    from its ``noise_seed`` by a generator on the latents' device (on a GPU no noise crosses the bus).
    A batch without ``noise_seed`` is returned as it is.
    """
    if "noise_seed" not in batch:
        return batch
    out = dict(batch)
    scale, offset = out.pop("latent_scale").float(), out.pop("latent_offset").float()
    for key in ("latents", "motion_latents", "ref_latents"):
        if key in out:
            out[key] = dequantize_batch(out[key], scale, offset)
    out["noise"] = seeded_noise(out["latents"].shape, out.pop("noise_seed").tolist(), out["latents"].device)
    return out


def dequantize_batch(stored: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``stored * scale + offset`` per sample (scale, offset: float32 [B]) in float32.

    Always computed, never skipped for a (1, 0) scale: testing for it would read the values back
    from the device (a host sync every step on a GPU), and ``x * 1 + 0`` is ``x`` exactly.
    """
    shape = (-1,) + (1,) * (stored.dim() - 1)
    x = stored.to(torch.float32, copy=True)
    return x.mul_(scale.view(shape)).add_(offset.view(shape))


def seeded_noise(shape: torch.Size, seeds: list[int], device: torch.device) -> torch.Tensor:
    """Standard normal noise [B, ...]: sample i from a generator on ``device`` seeded with ``seeds[i]``."""
    noise = torch.empty(shape, device=device)
    for i, seed in enumerate(seeds):
        gen = torch.Generator(device=device).manual_seed(seed)
        torch.randn(shape[1:], generator=gen, device=device, out=noise[i])
    return noise


def audio_shape(index: pd.DataFrame) -> tuple[int, int]:
    """(layers, channels) of the audio features in an index (from any clip that has audio)."""
    have = index.dropna(subset=["audio_layers", "audio_dim"]) if "audio_layers" in index else index.iloc[:0]
    if len(have) == 0:
        raise TrainingDataError("no clip in the features index has audio features")
    return int(have["audio_layers"].iloc[0]), int(have["audio_dim"].iloc[0])


def collate_one(sample: dict[str, Any]) -> dict[str, Any]:
    """A batch of one (validation)."""
    return collate_samples([sample])


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a micro-batch (all samples share one latent shape and one motion choice)."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], bool):
            out[key] = torch.tensor(values)
        elif key == "skipped":
            out[key] = [c for v in values for c in v]
        else:
            out[key] = values
    return out


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------
class PlanBatchSampler(Sampler[list[SamplePlan]]):
    """Yields the plans of micro-batch positions ``start`` … ``total - 1``."""

    def __init__(self, plan: TrainPlan, total: int, start: int = 0):
        self.plan, self.total, self.start = plan, total, start

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[list[SamplePlan]]:
        for position in range(self.start, self.total):
            yield [SamplePlanAt(p, position, slot) for slot, p in enumerate(self.plan.batch(position))]


@dataclass(frozen=True)
class SamplePlanAt:
    """A plan with its micro-batch position and slot (for redraws)."""

    plan: SamplePlan
    position: int
    slot: int


class RedrawingDataset(Dataset):
    """Training samples: a clip whose tensors fail to read is replaced by another draw (counted)."""

    MAX_REDRAWS = 8

    def __init__(self, windows: WindowDataset, plan: TrainPlan):
        self.windows, self.plan = windows, plan

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, at: SamplePlanAt) -> dict[str, Any]:
        plan = at.plan
        for _ in range(self.MAX_REDRAWS):
            try:
                return self.windows[plan]
            except (OSError, ValueError, KeyError, IndexError, RuntimeError, struct.error) as err:
                # a damaged shard (unreadable bytes, a checksum mismatch) must not stop training: the clip is
                # counted; a programming error (TypeError, ...) is not a damaged clip and propagates
                logger.warning("clip %s could not be read (%s: %s); drawing another", plan.clip_id,
                               type(err).__name__, err)
                plan = self.plan.redraw(plan, at.position, at.slot)
        raise TrainingDataError(f"{self.MAX_REDRAWS} clips in a row failed to read; the shards look damaged")


class ResumableLoader(DataLoader):
    """A DataLoader Lightning saves and restores (``state_dict`` / ``load_state_dict``).

    The state is the micro-batch position reached by completed optimizer steps, read from the
    trainer through ``position``, never a count of fetched batches (Lightning and the workers fetch
    ahead).
    """

    def __init__(self, *args: Any, position: Callable[[], int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._position = position

    def state_dict(self) -> dict[str, int]:
        return {"position": int(self._position())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.start = int(state["position"])


class OmniDataModule(L.LightningDataModule):
    """The stage's training and validation data over the feature shards.

    Args:
        index: the features index (``features.parquet``).
        store: the shard store.
        conditions: the stage's driving conditions.
        ratios: the stage's training ratios.
        t_only_fraction: Principle 1 share of T-only clips.
        data: ``DataSettings``.
        flow: ``FlowSettings`` fields for sigma sampling.
        with_audio: the model has an audio branch.
        with_pose: the model has a pose guider.
        total_micro_batches: micro-batches of the whole stage (``max_steps × accumulation``).
        clips: the curate clips table, to name the rules that excluded clips in errors (optional).
    """

    def __init__(self, index: pd.DataFrame, store: FeatureStore, *, conditions: tuple[str, ...], ratios: Ratios,
                 t_only_fraction: float, data: Any, flow: dict[str, Any], with_audio: bool, with_pose: bool,
                 total_micro_batches: int, clips: pd.DataFrame | None = None):
        super().__init__()
        self.index, self.store, self.clips_table = index, store, clips
        self.conditions, self.ratios, self.t_only_fraction = conditions, ratios, t_only_fraction
        self.data, self.flow, self.with_audio, self.with_pose = data, flow, with_audio, with_pose
        self.total_micro_batches = total_micro_batches
        self.skipped: dict[str, str] = {}
        self.shards_read: set[str] = set()
        self._prepared = False

    # -- setup ---------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._prepared:
            return
        rank, world = self._rank_world()
        refs = check_features(self.index, self.conditions, self.clips_table)
        bad = readable_shards(self.store, {c.shard for c in refs})
        for c in refs:
            if c.shard in bad:
                self.skipped[c.clip_id] = bad[c.shard]
        refs = [c for c in refs if c.shard not in bad]
        if bad:
            logger.warning("%d clips in %d damaged shards left out: %s", len(self.skipped), len(bad), bad)
        val_videos = split_videos(refs, self.data.val_fraction, self.data.val_min_videos, self.data.seed)
        train = [c for c in refs if c.video_id not in val_videos]
        self.val_clips = [c for c in refs if c.video_id in val_videos]
        self.all_train_clips = train  # every rank's (statistics every rank must agree on)
        shards = sorted({c.shard for c in train})
        if len(shards) < world:
            raise TrainingDataError(f"{len(shards)} training shards for {world} ranks: write smaller shards "
                                    "(features.store.clips_per_shard) or train on fewer devices")
        mine = set(shards[rank::world])
        self.train_shards = sorted(mine)
        self.train_clips = [c for c in train if c.shard in mine]
        self.shards_read = mine | ({c.shard for c in self.val_clips} if rank == 0 else set())
        pools = build_pools(self.train_clips, self.conditions, self.t_only_fraction, self.data.seed)
        check_pools(pools, train, self.conditions, self.clips_table)
        self.plan = TrainPlan(pools, self.conditions, self.ratios, self.data.window_latent_frames,
                              self.data.motion_probability, self.data.batch_size, self.data.seed, rank)
        self.val_plans = validation_plans(self.val_clips, self.data.window_latent_frames,
                                          self.data.val_samples_per_task, self.data.seed)
        self.features = FeatureDataset(self.index, self.store, render_pose=False)
        self.windows = WindowDataset(self.features, self.data.window_latent_frames, self.flow, self.with_audio,
                                     self.with_pose)
        self.mix = mix_summary(pools)
        self._prepared = True
        logger.info("stage data: %d train clips on rank %d/%d (%s), %d validation clips (%d samples)",
                    len(self.train_clips), rank, world, self.mix, len(self.val_clips), len(self.val_plans))

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    # -- loaders -------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        sampler = PlanBatchSampler(self.plan, self.total_micro_batches)
        return ResumableLoader(RedrawingDataset(self.windows, self.plan), batch_sampler=sampler,
                               collate_fn=collate_samples, num_workers=self.data.num_workers,
                               persistent_workers=self.data.num_workers > 0, position=self._position,
                               pin_memory=self.data.num_workers > 0 and torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.windows, batch_size=None, sampler=self.val_plans, num_workers=0,
                          collate_fn=collate_one)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move a batch's tensors (a flat dict: no recursion through its lists of ids and tasks)."""
        if not isinstance(batch, dict):
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Expand the compact batch on the device: dequantised latents, noise from the per-sample seeds."""
        return expand_batch(batch) if isinstance(batch, dict) else batch

    def _position(self) -> int:
        trainer = self.trainer
        return trainer.global_step * trainer.accumulate_grad_batches


def mix_summary(pools: dict[tuple[int, int, int], Pool]) -> dict[str, int]:
    """Clip counts of a rank's mix: conditioned, T-only and buckets."""
    return {"conditioned_clips": sum(len(p.conditioned) for p in pools.values()),
            "t_only_clips": sum(len(p.t_only) for p in pools.values()), "buckets": len(pools)}


# --------------------------------------------------------------------------------------------------
# Clear errors instead of tracebacks from inside torch
# --------------------------------------------------------------------------------------------------
def check_features(index: pd.DataFrame, conditions: tuple[str, ...], clips: pd.DataFrame | None) -> list[ClipRef]:
    """The index's usable clips, or an error that says why there are none."""
    if index is None or len(index) == 0:
        raise TrainingDataError("the features index is empty: run `kedro run --pipeline=features` first")
    eligible = index[index["eligible_T"].astype(bool)]
    if len(eligible) == 0:
        raise TrainingDataError("no T-eligible clip in the features index: curate accepted no clip for "
                                f"training ({_top_reasons(clips, '')})")
    statuses = Counter(eligible["status"])
    if statuses.get("ok", 0) == 0:
        raise TrainingDataError(f"every T-eligible clip failed feature caching (statuses {dict(statuses)}); "
                                "see the `error` column of features.parquet")
    return clip_refs(index)


def stale_features(index: pd.DataFrame, clips: pd.DataFrame | None) -> dict[str, int]:
    """How far the features index is behind the clip table (all zero when it is current).

    Returns:
        ``missing``: T-eligible clips with no features row; ``gone``: cached clips the table no longer has;
        ``changed``: clips whose T/A/P eligibility differs between the two.
    """
    if clips is None or "clip_id" not in clips or index is None or "clip_id" not in index:
        return {}
    table = clips.set_index("clip_id")
    cached = index.set_index("clip_id")
    eligible = set(table.index[table["eligible_T"].astype(bool)]) if "eligible_T" in table else set()
    common = cached.index.intersection(table.index)
    flags = [c for c in ("eligible_T", "eligible_A", "eligible_P") if c in table and c in cached]
    changed = 0
    if flags and len(common):
        now, then = table.loc[common, flags].astype(bool).to_numpy(), cached.loc[common, flags].astype(bool).to_numpy()
        changed = int((now != then).any(axis=1).sum())
    return {"missing": len(eligible - set(cached.index)), "gone": len(set(cached.index) - set(table.index)),
            "changed": changed}


def check_pools(pools: dict[tuple[int, int, int], Pool], train: list[ClipRef], conditions: tuple[str, ...],
                clips: pd.DataFrame | None) -> None:
    """Every condition the stage trains has eligible training clips, else name the count and the curate rules."""
    if not pools:
        raise TrainingDataError("no T-eligible training clip is left after the validation split")
    for condition, flag in (("audio", "A"), ("pose", "P")):
        if condition in conditions and not any(getattr(c.eligibility, flag) for c in train):
            n_t = sum(c.eligibility.T for c in train)
            raise TrainingDataError(
                f"this stage trains {condition} but 0 of the {n_t} T-eligible training clips are {flag}-eligible; "
                f"curate excluded them for: {_top_reasons(clips, flag + ':')}. Relax "
                f"eligibility.rules.{flag} in parameters_curate.yml or add data")


def _top_reasons(clips: pd.DataFrame | None, prefix: str, top: int = 5) -> str:
    if clips is None or "reasons" not in clips:
        return "see the `reasons` column of clips.parquet"
    counts: Counter[str] = Counter()
    for reasons in clips["reasons"]:
        for r in list(reasons) if reasons is not None else []:
            if r.startswith(prefix) or (not prefix and ":" not in r):
                counts[r] += 1
    return ", ".join(f"{r} ({n})" for r, n in counts.most_common(top)) or "no recorded reason"
