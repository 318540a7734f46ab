"""Run the per-video task over a corpus, resumably, and merge the shards into the two tables."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import pandas as pd
from tqdm.auto import tqdm

from omnihuman_pipeline.curation.config import CurateConfig, table_path
from omnihuman_pipeline.curation.video_task import VideoJob, VideoTask, video_row
from omnihuman_pipeline.datasets.result_shards import ResultShardStore
from omnihuman_pipeline.execution import map_unordered
from omnihuman_pipeline.media import errors
from omnihuman_pipeline.media.probe import content_hash

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inventory:
    """Unique jobs to run and the duplicate files that share their content."""

    jobs: list[VideoJob]
    duplicates: list[tuple[VideoJob, str]]  # (duplicate, path of the first file with that content)
    unreadable: list[tuple[VideoJob, str, str]]  # (file, status, reason): empty, or not readable for hashing


def _hash(path: str) -> tuple[str, str | None, str | None]:
    """(video_id, status, error): status and error None for a readable, non-empty file."""
    import errno
    import os

    if os.path.islink(path) and not os.path.exists(path):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        try:
            os.stat(path)
        except OSError as err:
            kind = "a symbolic link loop" if err.errno == errno.ELOOP else f"a broken symbolic link (target {target} is missing)"
            return "", errors.UNREADABLE, kind
    try:
        if os.path.getsize(path) == 0:
            return "", errors.EMPTY, "zero-length file"
        return content_hash(path), None, None
    except OSError as err:
        return "", errors.UNREADABLE, f"cannot read file: {err}"


def scan_inventory(paths: Iterable[str], inventory: Inventory, threads: int = 4) -> Iterator[VideoJob]:
    """Hash every file (the `video_id`) in path order and yield each new job as soon as it is hashed.

    `inventory` is filled as the scan goes: jobs, byte-identical duplicates of an earlier file, files that
    could not be read. Consumed by the executor, hashing a large corpus overlaps with curating it instead of
    keeping every worker idle until the last file is hashed.
    """
    paths = sorted(table_path(p) for p in paths)
    first: dict[str, str] = {}
    with ThreadPoolExecutor(threads) as pool:
        for path, (vid, status, err) in zip(paths, pool.map(_hash, paths), strict=True):
            job = VideoJob(vid or f"{status}-{len(inventory.unreadable)}", path)
            if status:  # empty files are each their own row, never duplicates of one another
                inventory.unreadable.append((job, status, err))
            elif vid in first:
                inventory.duplicates.append((job, first[vid]))
            else:
                first[vid] = path
                inventory.jobs.append(job)
                yield job


def build_inventory(paths: Iterable[str], threads: int = 4) -> Inventory:
    """Hash every file (the `video_id`) and set aside byte-identical duplicates."""
    inventory = Inventory([], [], [])
    for _ in tqdm(scan_inventory(paths, inventory, threads), desc="hash", leave=False):
        pass
    return inventory


def _is_current(store: ResultShardStore, job: VideoJob, fingerprint: str) -> bool:
    meta = store.read_meta(job.video_id)  # the footer only: the rows are read once, by the merge
    return meta is not None and meta.get("fingerprint") == fingerprint


def run_curation(paths: list[str], store: ResultShardStore, config: CurateConfig, executor: dict
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Process every video not yet in `store` (or stored under another config), then merge.

    Files are hashed while the workers already curate the first ones (`scan_inventory`).

    Args:
        paths: video files.
        store: shard store; one shard per `video_id`, written as soon as that video is done.
        config: what the per-video task does; its fingerprint versions the shards.
        executor: `{"name": "local"|"ray"|"serial", "workers": int, **options}`.

    Returns:
        (videos table, clip scores table, summed per-stage seconds of the videos run now).
    """
    if not paths:
        raise SystemExit("error: the raw folder (data/01_raw) holds no video file (.mp4 .mov .mkv .webm .avi .m4v): "
                         "put your videos there, or make the sample corpus with `make corpus`")
    from omnihuman_pipeline.scoring.registry import build_scorers, check_weights
    from omnihuman_pipeline.weights import WeightsNotFoundError

    try:
        check_weights(build_scorers(config.scorers))  # here, once, not in every worker
    except WeightsNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    removed = store.clean()
    if removed:
        logger.info("removed %d partial shard(s) left by an interrupted run", removed)
    fingerprint = config.fingerprint()
    inventory, done = Inventory([], [], []), []

    def todo() -> Iterator[VideoJob]:
        for job in scan_inventory(paths, inventory):
            if _is_current(store, job, fingerprint):
                done.append(job)
            else:
                yield job

    options = {k: v for k, v in executor.items() if k not in ("name", "workers")}
    timings: dict[str, float] = {}
    results = map_unordered(partial(VideoTask, config), todo(), executor=executor.get("name", "local"),
                            workers=executor.get("workers", 2), **options)
    bar = tqdm(results, total=len(paths), desc="curate", unit="video")
    for job, result in bar:
        store.write(job.video_id, pd.DataFrame(result.clips),
                    {"video": result.video, "timings": result.timings, "fingerprint": fingerprint})
        for key, seconds in result.timings.items():
            timings[key] = timings.get(key, 0.0) + seconds
        # the total shrinks as the scan finds files done earlier, duplicates and unreadable files
        bar.total = len(paths) - len(done) - len(inventory.duplicates) - len(inventory.unreadable)
    bar.close()
    logger.info("curate: %d videos, %d done earlier, %d processed now, %d duplicates, %d unreadable",
                len(inventory.jobs), len(done), len(inventory.jobs) - len(done), len(inventory.duplicates),
                len(inventory.unreadable))
    videos, clips = merge_shards(inventory, store)
    return videos, clips, timings


def merge_shards(inventory: Inventory, store: ResultShardStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `videos` table (one row per input file) and the clip scores (one row per clip)."""
    rows, clip_tables = [], []
    for job in inventory.jobs:
        shard = store.read(job.video_id)
        if shard is None:
            rows.append(video_row(job, None, errors.FAILED, "no result stored"))
            continue
        table, meta = shard
        rows.append({**meta["video"], "path": job.path})
        clip_tables.append(table)
    for job, first_path in inventory.duplicates:
        rows.append(video_row(job, None, errors.DUPLICATE, f"same content as {first_path}"))
    for job, status, error in inventory.unreadable:
        rows.append(video_row(job, None, status, error))
    videos = pd.DataFrame(rows).sort_values("path", kind="stable").reset_index(drop=True)
    non_empty = [t for t in clip_tables if len(t)]
    clips = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame(
        columns=["clip_id", "video_id", "start_s", "end_s", "n_frames"])
    order = {vid: i for i, vid in enumerate(videos["video_id"])}
    clips = clips.assign(_order=clips["video_id"].map(order)).sort_values(["_order", "start_s"], kind="stable")
    return videos, clips.drop(columns="_order").reset_index(drop=True)
