"""Executors for per-item work whose workers hold state (models loaded once).

A worker is built by `factory()` once per process/actor and called with one item at a time;
`setup()` is called on it first. `map_unordered` yields `(item, result)` as items finish, so the
caller persists each result the moment it exists — a killed run loses only the items in flight.

- `serial`: in this process (debugging, tests).
- `local`: a `concurrent.futures` process pool (spawn context: safe with torch/OpenCV threads). When the
  workers fill every CPU the process may use, each is bound to a CPU of its own (`pin_cpus`).
- `ray`: Ray actors, one worker each, on the local machine or the cluster `ray.init` connects to.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

Item = TypeVar("Item")
logger = logging.getLogger(__name__)

_WORKER: Any = None
_STARTED: Any = None  # workers this process has started with a CPU to take: the n-th takes the n-th CPU


def started_counter() -> Any:
    """The process-wide count of pinned workers started, shared with them (`bind_to_next_cpu`). It lives as long as
    this process: a worker still starting when its pool is dropped (every item already done) must still find it.
    Made by the spawn context, whose named semaphore spawned and forked workers alike can open."""
    global _STARTED
    if _STARTED is None:
        _STARTED = mp.get_context("spawn").Value("i", 0)
    return _STARTED


def bind_to_next_cpu(cpus: list[int] | None, started: Any) -> None:
    """Pool initializer: bind this worker process to the next CPU of `cpus` (None: leave it free)."""
    if cpus:
        with started.get_lock():
            cpu = cpus[started.value % len(cpus)]
            started.value += 1
        os.sched_setaffinity(0, {cpu})


def _init_worker(factory: Callable[[], Any], cpus: list[int] | None = None, started: Any = None) -> None:
    global _WORKER
    bind_to_next_cpu(cpus, started)  # before setup: the threads the models start inherit the CPU
    _WORKER = factory()
    _WORKER.setup()


def cpus_to_pin(workers: int, pin_cpus: bool = True) -> list[int] | None:
    """The CPUs to bind `workers` worker processes to, one each, or None to leave placement to the OS.

    Binding pays when the workers fill every CPU this process may use (`os.sched_getaffinity`): the OS otherwise
    moves busy workers between cores, and each move costs the cache. Measured on 2 cores with 2 curate workers on
    the benchmark's 8 videos, bound and free alternating: `run_curation` 9.45 vs 10.05 s (medians of six, 5 of 6
    pairs faster), the bare worker pool 9.15 vs 9.55 s (6 of 6). With fewer workers than CPUs, the OS keeps each on
    a core of its own anyway; with more, they must share.
    """
    if not pin_cpus or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return allowed if workers == len(allowed) > 1 else None


def _call_worker(item: Any) -> Any:
    return _WORKER(item)


def _serial(factory, items, workers, options) -> Iterator[tuple[Any, Any]]:
    worker = factory()
    worker.setup()
    for item in items:
        yield item, worker(item)


def _n_workers(items: Iterable[Any], workers: int) -> int:
    """No more workers than items when their number is known (a lazy iterable gets `workers`)."""
    return min(workers, len(items)) if isinstance(items, Sized) else workers


def _local(factory, items, workers, options) -> Iterator[tuple[Any, Any]]:
    if isinstance(items, Sized) and not len(items):
        return
    ctx = mp.get_context(options.get("start_method", "spawn"))
    n_workers = _n_workers(items, workers)
    cpus = cpus_to_pin(n_workers, options.get("pin_cpus", True))
    # spawn-context workers start on the first submits, so a lazy `items` (e.g. files still being
    # hashed) is curated as it arrives
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(factory, cpus, started_counter() if cpus else None))
    finished = False
    try:
        # keep at most 2 items per worker in flight so results stream back in submission order-ish
        queue, running = iter(items), {}
        for item in queue:
            running[pool.submit(_call_worker, item)] = item
            if len(running) >= 2 * workers:
                break
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                yield item, future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    running[pool.submit(_call_worker, nxt)] = nxt
        finished = True
    finally:
        # every result is in: let the workers tear their models down on their own time (~0.3 s of
        # MediaPipe/ONNX teardown per worker) instead of holding the caller; on an error, stop them
        pool.shutdown(wait=not finished, cancel_futures=True)


def _ray(factory, items, workers, options) -> Iterator[tuple[Any, Any]]:
    import ray
    from ray.util import ActorPool

    if isinstance(items, Sized) and not len(items):
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.get("address"), num_cpus=options.get("num_cpus", workers),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)

    @ray.remote(num_cpus=options.get("cpus_per_worker", 1))
    class _Actor:
        def __init__(self, make):
            self.worker = make()
            self.worker.setup()

        def run(self, item):
            return item, self.worker(item)

    try:
        # the actors load their models while a lazy `items` is still being produced
        pool = ActorPool([_Actor.remote(factory) for _ in range(_n_workers(items, workers))])
        yield from pool.map_unordered(lambda actor, item: actor.run.remote(item), items)
    finally:
        if started_here:
            ray.shutdown()


EXECUTORS: dict[str, Callable[..., Iterator[tuple[Any, Any]]]] = {
    "serial": _serial,
    "local": _local,
    "ray": _ray,
}


def map_unordered(factory: Callable[[], Any], items: Iterable[Item], *, executor: str = "local",
                  workers: int = 2, **options: Any) -> Iterator[tuple[Item, Any]]:
    """Apply a stateful worker to every item; yield `(item, result)` in completion order.

    Args:
        factory: picklable zero-argument callable building the worker (has `setup()` and `__call__`).
        items: picklable work items; a lazy iterable is consumed as the workers take items, so producing
            them (e.g. hashing files) overlaps with the work.
        executor: "serial", "local" or "ray".
        workers: number of worker processes / actors.
        **options: executor options (`start_method` and `pin_cpus` for local, see `cpus_to_pin`; `address`,
            `num_cpus`, `cpus_per_worker` for ray).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor '{executor}'; choose one of {sorted(EXECUTORS)}")
    return EXECUTORS[executor](factory, items, max(1, int(workers)), options)
