"""Executors give the same results; workers are set up once per process."""

from __future__ import annotations

import os
import sys

import pytest

from omnihuman_pipeline.execution import map_unordered
from omnihuman_pipeline.execution.executor import cpus_to_pin


class SquareWorker:
    """A stateful worker: `setup()` must run before the first call."""

    def __init__(self, offset: int = 0):
        self.offset, self.ready = offset, False

    def setup(self) -> None:
        self.ready = True

    def __call__(self, item: int) -> tuple[int, int]:
        assert self.ready, "setup() was not called"
        return item * item + self.offset, os.getpid()


def _make() -> SquareWorker:
    return SquareWorker(offset=1)


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_executors_return_every_item(executor):
    """Each item comes back once with its result, whatever the order."""
    out = dict((item, res[0]) for item, res in map_unordered(_make, range(7), executor=executor, workers=2))
    assert out == {i: i * i + 1 for i in range(7)}


def test_local_executor_uses_worker_processes():
    """The process pool runs items outside the calling process."""
    pids = {res[1] for _, res in map_unordered(_make, range(6), executor="local", workers=2)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


class AffinityWorker:
    """Reports the process and the CPUs it may run on."""

    def setup(self) -> None:
        pass

    def __call__(self, item: int) -> tuple[int, frozenset[int]]:
        return os.getpid(), frozenset(os.sched_getaffinity(0))


@pytest.mark.parametrize(("allowed", "workers", "expected"), [
    ({0, 1}, 2, [0, 1]),          # the workers fill the CPUs: one each
    ({3, 5, 7}, 3, [3, 5, 7]),
    ({0, 1, 2, 3}, 2, None),      # fewer workers than CPUs: the OS keeps them apart anyway
    ({0, 1}, 3, None),            # more workers than CPUs: they must share
    ({0}, 1, None),
])
def test_cpus_to_pin_only_when_the_workers_fill_the_cpus(monkeypatch, allowed, workers, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(allowed))
    assert cpus_to_pin(workers) == expected
    assert cpus_to_pin(workers, pin_cpus=False) is None


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or not 2 <= len(os.sched_getaffinity(0)) <= 4,
                    reason="needs 2-4 CPUs to fill with workers")
def test_local_workers_filling_the_cpus_are_bound_one_to_each():
    """With as many workers as CPUs, each worker process runs on a CPU of its own; `pin_cpus=False` leaves every
    worker free to run anywhere."""
    allowed = frozenset(os.sched_getaffinity(0))
    n = len(allowed)
    seen = dict(res for _, res in map_unordered(AffinityWorker, range(4 * n), executor="local", workers=n))
    assert all(len(cpus) == 1 for cpus in seen.values())
    assert set().union(*seen.values()) <= allowed and len(set(seen.values())) == len(seen)
    free = dict(res for _, res in map_unordered(AffinityWorker, range(2 * n), executor="local", workers=n,
                                                pin_cpus=False))
    assert set(free.values()) == {allowed}
    assert os.sched_getaffinity(0) == allowed  # the calling process is left as it was


def test_unknown_executor_is_a_clear_error():
    """A typo in the executor name names the valid choices."""
    with pytest.raises(ValueError, match="local"):
        list(map_unordered(_make, [1], executor="dask"))


def test_empty_input_yields_nothing():
    """No items, no pool, no results; an empty lazy iterable too."""
    assert list(map_unordered(_make, [], executor="local")) == []
    assert list(map_unordered(_make, iter([]), executor="local")) == []


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_lazy_items_are_taken_as_the_work_goes(executor):
    """A generator is consumed as workers take items (at most 2 per worker ahead), not all up front, so
    producing the items (hashing files) overlaps with the work; every item still comes back."""
    produced: list[int] = []

    def items():
        for i in range(12):
            produced.append(i)
            yield i

    results = map_unordered(_make, items(), executor=executor, workers=2)
    first_item, _ = next(results)
    assert len(produced) <= 2 * 2 + 1 and first_item in produced
    rest = dict((item, res[0]) for item, res in results)
    assert {first_item, *rest} == set(range(12)) and len(produced) == 12


@pytest.mark.slow
def test_ray_executor_matches_local():
    """Ray actors return the same results as the process pool."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test modules are not importable by workers
    ray_out = {i: r[0] for i, r in map_unordered(_make, range(5), executor="ray", workers=2, num_cpus=2)}
    assert ray_out == {i: i * i + 1 for i in range(5)}
