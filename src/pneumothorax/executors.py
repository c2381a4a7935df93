"""Run one per-file function over many files: sequentially or on local processes.

Kedro's runners parallelise nodes, not the files inside one node, so the nodes use this.
Results come back in input order with a bounded number of tasks in flight, so memory
stays flat however many files there are, and outputs never depend on scheduling.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Tasks kept in flight per worker: enough to hide scheduling gaps, few enough to bound memory.
IN_FLIGHT_PER_WORKER = 8


def map_ordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    backend: str = "processes",
    workers: int = 1,
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in input order.

    Args:
        fn: A picklable function of one argument (module-level, or a ``functools.partial``).
        items: Picklable inputs, consumed lazily.
        backend: ``"sequential"`` (this process) or ``"processes"`` (a local pool).
        workers: Pool size for ``"processes"``.

    Yields:
        The results, one per item, in the order of ``items``.

    Raises:
        ValueError: Unknown backend.
    """
    if backend == "sequential" or (backend == "processes" and workers <= 1):
        yield from map(fn, items)
        return
    if backend != "processes":
        raise ValueError(f"unknown executor backend {backend!r}")
    # spawn, not fork: the parent may hold MLflow/logging threads, which fork can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from _bounded(pool.submit, fn, items, workers * IN_FLIGHT_PER_WORKER)


def _bounded(
    submit: Callable[..., Future[R]], fn: Callable[[T], R], items: Iterable[T], limit: int
) -> Iterator[R]:
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(submit(fn, item))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
