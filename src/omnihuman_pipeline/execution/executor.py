"""Executors for per-item work whose workers hold state (models loaded once).

A worker is built by `factory()` once per process/actor and called with one item at a time;
`setup()` is called on it first. `map_unordered` yields `(item, result)` as items finish, so the
caller persists each result the moment it exists — a killed run loses only the items in flight.

- `serial`: in this process (debugging, tests).
- `local`: a `concurrent.futures` process pool (spawn context: safe with torch/OpenCV threads).
- `ray`: Ray actors, one worker each, on the local machine or the cluster `ray.init` connects to.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

Item = TypeVar("Item")
logger = logging.getLogger(__name__)

_WORKER: Any = None


def _init_worker(factory: Callable[[], Any]) -> None:
    global _WORKER
    _WORKER = factory()
    _WORKER.setup()


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
    # spawn-context workers start on the first submits, so a lazy `items` (e.g. files still being
    # hashed) is curated as it arrives
    pool = ProcessPoolExecutor(max_workers=_n_workers(items, workers), mp_context=ctx,
                               initializer=_init_worker, initargs=(factory,))
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
        **options: executor options (`start_method` for local; `address`, `num_cpus`,
            `cpus_per_worker` for ray).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor '{executor}'; choose one of {sorted(EXECUTORS)}")
    return EXECUTORS[executor](factory, items, max(1, int(workers)), options)
