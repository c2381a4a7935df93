"""Tests for ``pneumothorax.executors.map_ordered``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pneumothorax.executors import IN_FLIGHT_PER_WORKER, map_ordered


# Module-level so spawned worker processes can import them by module path.
def square_after_delay(value: int) -> int:
    # Later items finish first, so the order of completion differs from the input order.
    time.sleep(0.002 * (value % 5))
    return value * value


def worker_pid(_value: int) -> int:
    time.sleep(0.01)
    return os.getpid()


@pytest.mark.parametrize(
    ("backend", "workers"),
    [("sequential", 1), ("sequential", 4), ("processes", 1), ("processes", 2)],
)
def test_results_in_input_order(backend: str, workers: int) -> None:
    items = [7, 3, 11, 0, 5, 2, 9, 1, 4, 8, 6, 10] * 3
    results = list(map_ordered(square_after_delay, items, backend=backend, workers=workers))
    assert results == [v * v for v in items]


def test_processes_backend_uses_other_processes() -> None:
    pids = set(map_ordered(worker_pid, range(20), backend="processes", workers=2))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


@pytest.mark.parametrize(("backend", "workers"), [("sequential", 1), ("processes", 2)])
def test_empty_input(backend: str, workers: int) -> None:
    assert list(map_ordered(square_after_delay, [], backend=backend, workers=workers)) == []


def test_processes_bounded_in_flight() -> None:
    workers, total = 2, 200
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for value in range(total):
            pulled += 1
            yield value

    results = map_ordered(square_after_delay, items(), backend="processes", workers=workers)
    first = next(results)
    pulled_before_first = pulled
    rest = list(results)
    assert first == 0
    assert pulled_before_first <= workers * IN_FLIGHT_PER_WORKER + 1
    assert pulled_before_first < total
    assert [first, *rest] == [v * v for v in range(total)]


def test_sequential_is_lazy() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for value in range(1000):
            pulled += 1
            yield value

    results = map_ordered(square_after_delay, items(), backend="sequential")
    assert next(results) == 0
    assert pulled == 1


@pytest.mark.parametrize(("backend", "workers"), [("threads", 1), ("threads", 4), ("dask", 2)])
def test_unknown_backend_raises(backend: str, workers: int) -> None:
    with pytest.raises(ValueError, match=f"unknown executor backend '{backend}'"):
        list(map_ordered(square_after_delay, [1, 2], backend=backend, workers=workers))
