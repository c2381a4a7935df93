"""Run one per-file function over many files: sequentially, on local processes or on Dask.

Kedro's runners parallelise nodes, not the files inside one node, so the per-file runtime
(:class:`~pneumothorax.runtime.mapper.FileMapper`) uses this. Results come back in input
order with a bounded number of tasks in flight, so memory stays flat however many files
there are, and outputs never depend on scheduling.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)

#: Tasks kept in flight per worker: enough to hide scheduling gaps, few enough to bound memory.
IN_FLIGHT_PER_WORKER = 8

#: Files per Dask task. The scheduler and client run in the parent, on the workers' cores:
#: reading the metadata of 2,000 SIIM-like files on a 2-worker local cluster, the parent
#: used 2.1-3.0 s of CPU with 16 files per task and 1.35-1.55 s with 64. 32 halves the
#: tasks of 16 and keeps a task's results small (32 PNGs of ~25 KB here, or ~2 MB each
#: at 16 bits and 1024 px).
DASK_BATCH = 32

#: Items per task of the processes pool. Each future costs the parent work (pickling, the
#: result thread, a wake-up) on the cores the workers use: a 2-worker pool decoded 2,000
#: small PNGs in 2.77 s with one item per task, 1.66 s with sixteen.
PROCESS_BATCH = 16

#: Environment variable naming a running Dask scheduler (``tcp://host:8786``).
DASK_SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

#: Dask settings for the workers of the local cluster (docs/scaling.md gives the same as
#: YAML for a real cluster's workers). Dask's nanny sets MALLOC_TRIM_THRESHOLD_,
#: and any explicit malloc threshold switches off glibc's adaptive mmap threshold: every
#: decoded frame (a few MB) is then mmap'ed, page-faulted in and unmapped per file (one
#: process, 400 files: ~140 page faults per file and +0.6-1.4 ms per file). The workers'
#: statistical profiler samples the task thread every 10 ms; nobody reads it here (no
#: dashboard). Rendering 2,000 SIIM-like files on a 2-worker local cluster, the workers
#: used 15.7-15.9 s of CPU with Dask's defaults and 12.4-13.2 s with these.
WORKER_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # None unsets it
    "distributed.worker.profile.enabled": False,
}

#: Modules the forkserver loads once, so each worker forked from it starts warm.
_PRELOAD = ["pneumothorax.dicom.render", "pneumothorax.dicom.metadata"]


class Executor:
    """Runs one per-file function over many items, in input order; owns its local Dask cluster.

    Built once per run (by :class:`pneumothorax.runtime.mapper.FileMapper`) and shared by
    its nodes: a local cluster takes 1.4-2.6 s to start here and its workers import the
    conversion code on their first task, paid once per run instead of once per node. The
    cluster lives until :meth:`close` (the project's hook calls it when the pipeline ends
    or fails), or until this object is collected or the interpreter exits.
    """

    def __init__(
        self,
        backend: str = "processes",
        workers: int = 1,
        scheduler_address: str | None = None,
    ) -> None:
        """Choose where work runs.

        Args:
            backend: ``"sequential"`` (this process), ``"processes"`` (a local pool) or
                ``"dask"`` (a ``dask.distributed`` cluster).
            workers: Pool size for ``"processes"``; workers of the local cluster ``"dask"``
                starts when no scheduler address is given.
            scheduler_address: For ``"dask"``: the scheduler to connect to; ``None`` reads
                ``$DASK_SCHEDULER_ADDRESS``, and without it a local cluster is started.

        Raises:
            ValueError: Unknown backend.
        """
        if backend not in ("sequential", "processes", "dask"):
            raise ValueError(f"unknown executor backend {backend!r}")
        self.backend = backend
        self.workers = max(workers, 1)
        self.scheduler_address = scheduler_address
        self._cluster: Any = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(item)`` for each item, in input order, a bounded number in flight.

        Args:
            fn: A picklable function of one argument (module-level, or a ``functools.partial``).
            items: Picklable inputs, consumed lazily.

        Yields:
            The results, one per item, in the order of ``items``.
        """
        if self.backend == "dask":
            yield from self._map_dask(fn, items)
            return
        if self.backend == "sequential" or self.workers <= 1:
            yield from map(fn, items)
            return
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_mp_context(), initializer=exit_with_parent
        ) as pool:
            batches = _bounded(
                pool.submit,
                partial(_apply_batch, fn),
                _batched(items, PROCESS_BATCH),
                self.workers * max(IN_FLIGHT_PER_WORKER // 2, 2),
            )
            for results in batches:
                yield from results

    def close(self) -> None:
        """Close the local Dask cluster, if this executor started one (else nothing to do)."""
        with self._lock:
            finalizer, self._finalizer, self._cluster = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _map_dask(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        level = _dask_log_level()
        # Imported here: distributed costs ~1 s to import and only this backend needs it.
        from distributed import Client

        address = self.scheduler_address or os.environ.get(DASK_SCHEDULER_ENV) or None
        if address is None:
            address = self._local_cluster(level).scheduler_address
        else:
            logger.info("dask: connecting to the scheduler at %s", address)
        with Client(address, set_as_default=False) as client:
            threads = sum(client.nthreads().values()) or 1
            # pure=False: every batch is its own task, even if two batches hash alike.
            batches = _bounded(
                lambda f, batch: client.submit(f, batch, pure=False),
                partial(_apply_batch, fn),
                _batched(items, DASK_BATCH),
                threads * max(IN_FLIGHT_PER_WORKER // 4, 2),
            )
            for results in batches:
                yield from results

    def _local_cluster(self, log_level: int) -> Any:
        """The local cluster of ``workers`` processes on 127.0.0.1, started on first use."""
        import dask
        from distributed import LocalCluster
        from distributed.core import Status

        with self._lock:
            if self._cluster is not None and self._cluster.status == Status.running:
                return self._cluster
            # The nannies read their environment and the workers' config when created.
            with dask.config.set(WORKER_CONFIG):
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=log_level,
                )
            # Closed by close(), or when this executor is collected, or at exit (finalize
            # runs its callbacks then): never left running, with no module-level registry.
            self._cluster = cluster
            self._finalizer = weakref.finalize(self, cluster.close)
            logger.debug(
                "dask: started a local cluster of %d worker(s) at %s",
                self.workers,
                cluster.scheduler_address,
            )
            return cluster


#: Seconds between a worker's checks that its parent still runs.
PARENT_POLL_SECONDS = 0.25


def exit_with_parent() -> None:
    """Pool initializer: end this worker as soon as the process that started the pool is gone.

    A ``kill -9`` of ``kedro run`` gives its pool no chance to stop the workers, and
    ``concurrent.futures`` workers wait for tasks for ever: without this they would
    outlive the run, holding memory and the cores. A daemon thread watches two signs:

    - ``fork`` workers are children of the run's process: when it dies they are adopted
      by another, and :func:`os.getppid` changes;
    - ``forkserver`` workers are children of the fork server, which does not exit while
      they live (they hold its "clients alive" pipe); but each holds the read end of a
      pipe only the run's process writes to (multiprocessing's parent sentinel), which
      reads as closed once that process is gone.

    Polling, not Linux's ``PR_SET_PDEATHSIG``: that signal follows the death of the
    *thread* that forked (and, for the fork server's workers, of the fork server), and
    exists on Linux only.
    """
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    threading.Thread(
        target=_watch_parent, args=(os.getppid(), sentinel), name="parent-watch", daemon=True
    ).start()


def _watch_parent(ppid: int, sentinel: int | None) -> None:
    from multiprocessing.connection import wait

    while True:
        if sentinel is not None:
            gone = bool(wait([sentinel], timeout=PARENT_POLL_SECONDS))
        else:
            time.sleep(PARENT_POLL_SECONDS)
            gone = False
        if gone or os.getppid() != ppid:
            # os._exit, not sys.exit: no cleanup may wait on the dead parent's queues.
            os._exit(1)


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` when this process has one thread, else ``forkserver``.

    Measured in a process that imported Kedro (2 workers, 200 tiny tasks): fork 0.09 s,
    forkserver 1.7 s, spawn 2.0 s: spawn and forkserver children re-import the ``kedro``
    entry script. Fork is unsafe only when another thread may hold a lock at fork time;
    with a single thread no lock can be held, so fork is then safe. With more threads
    (e.g. a tracking client's background thread) forkserver keeps the safety of a fresh
    interpreter and still preloads the conversion modules once.
    """
    threads = threading.active_count()
    if threads == 1 and "fork" in multiprocessing.get_all_start_methods():
        logger.debug("processes: fork (one thread)")
        return multiprocessing.get_context("fork")
    logger.info("processes: forkserver (%d threads alive: %s)", threads, _thread_names())
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _thread_names() -> str:
    return ", ".join(sorted(thread.name for thread in threading.enumerate()))


# Hand-written rather than ``Executor.map``: before Python 3.14 (``buffersize``) it submits
# every item at once, holding all inputs and results in memory; distributed's ``Client.map``
# does too. This keeps ``limit`` tasks in flight and yields in input order.
def _bounded(
    submit: Callable[..., Future[R]], fn: Callable[[T], R], items: Iterable[T], limit: int
) -> Iterator[R]:
    pending: deque[Any] = deque()
    for item in items:
        pending.append(submit(fn, item))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _apply_batch(fn: Callable[[T], R], batch: list[T]) -> list[R]:
    return [fn(item) for item in batch]


#: Dask's own variable for the level of its ``distributed`` loggers (scheduler, nanny, worker).
DASK_LOG_LEVEL_ENV = "DASK_LOGGING__DISTRIBUTED"


def _dask_log_level() -> int:
    """The level the project's logging config gives Dask, handed to Dask before its import.

    Dask configures its ``distributed`` loggers itself when imported (INFO by default),
    over Kedro's logging config, and its worker processes do the same. So the level of
    ``distributed`` in ``conf/logging.yml`` (WARNING; INFO in ``conf/logging-verbose.yml``)
    goes to Dask through its environment variable, which workers inherit, unless the user
    set that variable. Called before ``distributed`` is imported.
    """
    if DASK_LOG_LEVEL_ENV in os.environ:
        return logging.getLevelName(os.environ[DASK_LOG_LEVEL_ENV].upper())
    level = logging.getLogger("distributed").getEffectiveLevel()
    os.environ[DASK_LOG_LEVEL_ENV] = logging.getLevelName(level).lower()
    import dask

    dask.config.set({"logging.distributed": os.environ[DASK_LOG_LEVEL_ENV]})
    return level
