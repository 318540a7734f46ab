"""Stream cached features to training: ``FeatureDataset`` (map-style) and ``FeatureIterableDataset``.

Both read the ``features`` index (Parquet) and the shards it names, from local disk or object
storage (any fsspec URL), and yield one record per clip with status ``ok``::

    {"clip_id": str,
     "latents": float [C, T, h, w],        video latents (T = 1 + (F-1)/4, h = H/8, w = W/8)
     "ref_latent": float [C, 1, h, w],     latent of the reference frame (index ``ref_frame``)
     "audio": float [F, L, C_a] | None,    multi-scale audio features at 25 fps (None: no audio track)
     "text": float [L_t, D], "text_mask": bool [L_t],
     "pose": uint8 [3, F, H, W] | None,    skeleton maps drawn here from stored keypoints (None: not P)
     "eligible_T"/"eligible_A"/"eligible_P": bool, "n_frames": int, "ref_frame": int,
     "backends": {kind: backend}}

Only the tensors of one record are read (one ranged read per shard); the iterable variant reads
each shard whole, once, in shard order, and splits shards across DataLoader workers and
distributed ranks. :meth:`FeatureDataset.window` reads only a window of a clip (its latent frames,
the audio and keypoints of its pixel frames) for training, which never needs the whole clip.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from omnihuman_pipeline.features.codec import TIME_MAJOR, channels_first, dequantize
from omnihuman_pipeline.features.config import KINDS
from omnihuman_pipeline.features.pose_maps import render_pose_maps
from omnihuman_pipeline.features.shards import Entry, FeatureStore, entry_of


def _read_index(index: str | pd.DataFrame, storage_options: dict | None) -> pd.DataFrame:
    table = index if isinstance(index, pd.DataFrame) else pd.read_parquet(index, storage_options=storage_options)
    return table[table["status"] == "ok"].reset_index(drop=True)


class _Reader:
    """Turns an index row into a record (shared by both datasets)."""

    def __init__(self, shards: str | FeatureStore, render_pose: bool, latent_dtype: torch.dtype,
                 storage_options: dict | None):
        self.store = shards if isinstance(shards, FeatureStore) else FeatureStore.at(shards, **(storage_options or {}))
        self.render_pose, self.latent_dtype = render_pose, latent_dtype
        self._entries: dict[str, dict[tuple[str, str, str], Entry]] = {}

    def entry(self, row: dict, kind: str) -> Entry | None:
        shard = row.get(f"{kind}_shard")
        if not isinstance(shard, str):
            return None
        if shard not in self._entries:
            header = self.store.header(shard)
            self._entries[shard] = {(r["clip_id"], r["kind"], r["hash"]): entry_of(r, shard)
                                    for r in header["entries"]}
        return self._entries[shard][(row["clip_id"], kind, row[f"{kind}_hash"])]

    def record(self, row: dict, blobs: dict[str, bytes] | None = None) -> dict[str, Any]:
        blobs = blobs or {}
        entries = {k: self.entry(row, k) for k in KINDS}
        read = {k: self.store.read(e, blob=blobs.get(e.shard)) if e else {} for k, e in entries.items()}
        vm = entries["video"].meta
        layout = vm.get("layout")
        audio = read["audio"].get("features")
        pose = None
        if entries["pose"] is not None and self.render_pose:
            pm = entries["pose"].meta
            maps = render_pose_maps(read["pose"]["body"].numpy(), read["pose"]["hands"].numpy(), pm["width"],
                                    pm["height"], **pm["render"])
            pose = torch.from_numpy(maps).permute(3, 0, 1, 2)  # [3, F, H, W]
        return {
            "clip_id": row["clip_id"],
            "latents": dequantize(channels_first(read["video"]["latents"], layout), vm["scale"], vm["offset"],
                                  self.latent_dtype),
            "ref_latent": dequantize(channels_first(read["video"]["ref_latent"], layout), vm["scale"], vm["offset"],
                                     self.latent_dtype),
            "audio": audio.float() if audio is not None else None,
            "text": read["text"]["states"].float(),
            "text_mask": read["text"]["mask"].bool(),
            "pose": pose,
            "pose_keypoints": read["pose"] or None,
            "pose_render": _render_settings(entries["pose"].meta) if entries["pose"] is not None else None,
            "eligible_T": bool(row["eligible_T"]), "eligible_A": bool(row["eligible_A"]),
            "eligible_P": bool(row["eligible_P"]),
            "n_frames": int(row["n_frames"]), "ref_frame": int(row["ref_frame"]),
            "backends": json.loads(row["backends"]),
        }

    def window(self, row: dict, latents: range, frames: range, *, audio: bool, pose: bool) -> dict[str, Any]:
        """A window of a clip in storage form: only the rows it needs are read (see :meth:`FeatureDataset.window`)."""
        video = self.entry(row, "video")
        vm, store = video.meta, self.store
        if vm.get("layout") == TIME_MAJOR:  # a window of frames is one contiguous range
            stored = channels_first(store.read_rows(video, "latents", latents.start, latents.stop), TIME_MAJOR)
        else:
            stored = store.read(video, ["latents"])["latents"][:, latents.start:latents.stop]
        text = store.read(self.entry(row, "text"))
        out = {"latents": stored, "ref_latent": channels_first(store.read(video, ["ref_latent"])["ref_latent"],
                                                               vm.get("layout")),
               "scale": float(vm["scale"]), "offset": float(vm["offset"]),
               "text": text["states"].float(), "text_mask": text["mask"].bool(), "audio": None,
               "pose_keypoints": None, "pose_render": None}
        audio_entry = self.entry(row, "audio") if audio else None
        if audio_entry is not None and "features" in audio_entry.tensors:
            out["audio"] = store.read_rows(audio_entry, "features", frames.start, frames.stop).float()
        pose_entry = self.entry(row, "pose") if pose else None
        if pose_entry is not None:
            out["pose_keypoints"] = {name: store.read_rows(pose_entry, name, frames.start, frames.stop)
                                     for name in ("body", "hands")}
            out["pose_render"] = _render_settings(pose_entry.meta)
        return out


def _render_settings(meta: dict) -> dict[str, Any]:
    return {"width": meta["width"], "height": meta["height"], **meta["render"]}


def render_pose_window(record: dict[str, Any], frames: range | list[int]) -> torch.Tensor:
    """Skeleton maps of some frames of a record read with ``render_pose=False``: uint8 [3, len(frames), H, W].

    Equal to ``record["pose"][:, frames]`` of the same clip read with ``render_pose=True``, at the cost
    of drawing only the frames asked for.
    """
    keypoints, settings = record["pose_keypoints"], dict(record["pose_render"])
    index = list(frames)
    width, height = settings.pop("width"), settings.pop("height")
    maps = render_pose_maps(keypoints["body"].numpy()[index], keypoints["hands"].numpy()[index], width, height,
                            **settings)
    return torch.from_numpy(maps).permute(3, 0, 1, 2)


class FeatureDataset(Dataset):
    """Map-style dataset over the cached clips (status ``ok``).

    Args:
        index: the ``features`` table or its Parquet path / URL.
        shards: the shard folder (path or URL) or a :class:`FeatureStore`.
        render_pose: draw skeleton maps (else ``pose`` is None and ``pose_keypoints`` holds the arrays).
        latent_dtype: dtype of the returned latents.
        storage_options: fsspec options (credentials) for remote paths.
    """

    def __init__(self, index: str | pd.DataFrame, shards: str | FeatureStore, *, render_pose: bool = True,
                 latent_dtype: torch.dtype = torch.float32, storage_options: dict | None = None):
        self.rows = _read_index(index, storage_options).to_dict("records")
        self._reader = _Reader(shards, render_pose, latent_dtype, storage_options)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._reader.record(self.rows[i])

    def window(self, i: int, latents: range, frames: range, *, audio: bool = True, pose: bool = True
               ) -> dict[str, Any]:
        """Clip ``i`` cut to latent frames ``latents`` and pixel frames ``frames``, reading only those rows.

        Returns the latents in storage form (``latents`` [C, len(latents), h, w] in the stored dtype,
        ``ref_latent`` [C, 1, h, w], with ``scale`` and ``offset`` to dequantise), ``text`` and
        ``text_mask``, ``audio`` [len(frames), L, C_a] (None without an audio track or when not asked),
        and ``pose_keypoints`` of those frames with ``pose_render`` (None without pose or when not asked),
        which :func:`render_pose_window` draws from frame 0 of the window.
        """
        return self._reader.window(self.rows[i], latents, frames, audio=audio, pose=pose)

    @property
    def clip_ids(self) -> list[str]:
        return [r["clip_id"] for r in self.rows]


class FeatureIterableDataset(IterableDataset):
    """Streams records shard by shard: each shard is read whole once; shards are split across ranks and
    DataLoader workers; with ``shuffle`` the shard order and the clips within a shard are shuffled
    per epoch (``set_epoch``).

    Args:
        index: the ``features`` table or its Parquet path / URL.
        shards: the shard folder (path or URL) or a :class:`FeatureStore`.
        shuffle: shuffle shards and clips.
        seed: base seed of the shuffle.
        rank: this process's rank (default: torch.distributed's, else 0).
        world_size: number of ranks (default: torch.distributed's, else 1).
        render_pose, latent_dtype, storage_options: as :class:`FeatureDataset`.
    """

    def __init__(self, index: str | pd.DataFrame, shards: str | FeatureStore, *, shuffle: bool = False,
                 seed: int = 0, rank: int | None = None, world_size: int | None = None, render_pose: bool = True,
                 latent_dtype: torch.dtype = torch.float32, storage_options: dict | None = None):
        rows = _read_index(index, storage_options).to_dict("records")
        self.groups: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            self.groups[row["video_shard"]].append(row)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        dist = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if dist else 0)
        self.world_size = world_size if world_size is not None else (torch.distributed.get_world_size() if dist else 1)
        self._reader = _Reader(shards, render_pose, latent_dtype, storage_options)
        self.n_rows = len(rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_shards(self) -> list[str]:
        shards = sorted(self.groups)
        rng = random.Random(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(shards)
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        slot, slots = self.rank * n_workers + worker_id, self.world_size * n_workers
        return shards[slot::slots]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.seed + self.epoch + 1)
        for shard in self._my_shards():
            rows = list(self.groups[shard])
            if self.shuffle:
                rng.shuffle(rows)
            blobs = {shard: self._reader.store.read_blob(shard)}
            for row in rows:
                yield self._reader.record(row, blobs)


def collate_records(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors of equal shape; keep lists where shapes differ or a value is None."""
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [b[key] for b in batch]
        if all(isinstance(v, torch.Tensor) for v in values) and len({tuple(v.shape) for v in values}) == 1:
            out[key] = torch.stack(values)
        elif all(isinstance(v, bool) for v in values):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


def describe_record(record: dict[str, Any]) -> dict[str, Any]:
    """Shapes and dtypes of a record (for logs and reports)."""
    return {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) if isinstance(v, torch.Tensor) else v
            for k, v in record.items() if k not in ("pose_keypoints", "pose_render") and not isinstance(v, np.ndarray)}
