"""Executor.map: every backend gives the same results in input order, bounded in flight."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pneumothorax.runtime.executors import (
    DASK_SCHEDULER_ENV,
    IN_FLIGHT_PER_WORKER,
    PROCESS_BATCH,
    WORKER_CONFIG,
    Executor,
)

SCALING_DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def map_ordered(fn: Callable[[Any], Any], items: Iterable[Any], **settings: Any) -> Iterator[Any]:
    """One map on an executor of its own, closed after (its local cluster with it)."""
    with Executor(**settings) as executor:
        yield from executor.map(fn, items)


# Module-level so spawned worker processes can import them by module path.
def _square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def _worker_settings(_value: int) -> tuple[str | None, bool]:
    import dask

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get(
        "distributed.worker.profile.enabled"
    )


def square_after_delay(value: int) -> int:
    # Later items finish first, so the order of completion differs from the input order.
    time.sleep(0.002 * (value % 5))
    return value * value


@pytest.fixture(scope="module")
def dask_cluster():
    """A real two-process ``distributed`` cluster on 127.0.0.1 (random ports), closed after."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    # On a loaded machine a worker may register after the constructor returns.
    cluster.wait_for_workers(2, timeout=60)
    yield cluster
    cluster.close()


@pytest.mark.parametrize(("backend", "workers"), [("sequential", 1), ("processes", 2)])
def test_local_backends_return_results_in_input_order(backend: str, workers: int) -> None:
    results = list(map_ordered(_square_with_pid, range(100), backend=backend, workers=workers))
    assert [value for value, _pid in results] == [i * i for i in range(100)]
    pids = {pid for _value, pid in results}
    assert (pids == {os.getpid()}) == (backend == "sequential")


def test_dask_backend_runs_on_the_given_scheduler_in_input_order(dask_cluster) -> None:
    assert len(dask_cluster.scheduler_info["workers"]) == 2
    results = list(
        map_ordered(
            _square_with_pid,
            range(200),
            backend="dask",
            scheduler_address=dask_cluster.scheduler_address,
        )
    )
    assert [value for value, _pid in results] == [i * i for i in range(200)]
    assert os.getpid() not in {pid for _value, pid in results}  # ran on the cluster's workers


def test_dask_backend_reads_the_scheduler_from_the_environment(
    dask_cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DASK_SCHEDULER_ENV, dask_cluster.scheduler_address)
    results = list(map_ordered(_square_with_pid, range(20), backend="dask", workers=1))
    assert [value for value, _pid in results] == [i * i for i in range(20)]


@pytest.mark.parametrize(
    ("backend", "workers"),
    [("sequential", 1), ("sequential", 4), ("processes", 1), ("processes", 2)],
)
def test_results_in_input_order(backend: str, workers: int) -> None:
    items = [7, 3, 11, 0, 5, 2, 9, 1, 4, 8, 6, 10] * 3
    results = list(map_ordered(square_after_delay, items, backend=backend, workers=workers))
    assert results == [v * v for v in items]


@pytest.mark.parametrize(("backend", "workers"), [("sequential", 1), ("processes", 2)])
def test_empty_input(backend: str, workers: int) -> None:
    assert list(map_ordered(square_after_delay, [], backend=backend, workers=workers)) == []


def test_processes_bounded_in_flight() -> None:
    workers, total = 2, 1000
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
    # Work is handed over in batches of PROCESS_BATCH, at most IN_FLIGHT_PER_WORKER per worker.
    assert pulled_before_first <= workers * IN_FLIGHT_PER_WORKER * PROCESS_BATCH
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


@pytest.mark.parametrize(("backend", "workers"), [("threads", 1), ("threads", 4), ("gpu", 2)])
def test_unknown_backend_raises(backend: str, workers: int) -> None:
    with pytest.raises(ValueError, match=f"unknown executor backend '{backend}'"):
        list(map_ordered(square_after_delay, [1, 2], backend=backend, workers=workers))


def test_local_dask_cluster_is_shared_until_closed() -> None:
    """Two maps on one executor without a scheduler address share its local cluster;
    closing the executor ends it."""
    executor = Executor("dask", workers=2)
    try:
        first = list(executor.map(_square_with_pid, range(100)))
        second = list(executor.map(_square_with_pid, range(100)))
        pids = {pid for _value, pid in first + second}
        # A cluster closed after the first map would have ended its workers by now.
        alive_between = _pids_of_running(pids)
    finally:
        executor.close()
    assert [value for value, _pid in first] == [i * i for i in range(100)]
    assert [value for value, _pid in second] == [i * i for i in range(100)]
    assert os.getpid() not in pids
    assert alive_between == pids
    assert _pids_of_running(pids) == set()


def _pids_of_running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.add(pid)
    return alive


def test_local_dask_cluster_workers_keep_glibc_adaptive_malloc_and_no_profiler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The nanny leaves MALLOC_TRIM_THRESHOLD_ unset and the workers' profiler is off."""
    # A nanny writes its pre-spawn variables into its parent's os.environ (nanny.py), so
    # the default-config cluster of the fixture above may have left it set in this process.
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    settings = set(map_ordered(_worker_settings, range(8), backend="dask", workers=2))
    assert settings == {(None, False)}


def test_scaling_doc_gives_cluster_workers_the_local_cluster_settings() -> None:
    """The YAML docs/scaling.md has users write on worker machines is WORKER_CONFIG."""
    text = SCALING_DOC.read_text(encoding="utf-8")
    start = text.index("cat > ~/.config/dask/pneumothorax.yaml <<'EOF'\n")
    body = text[text.index("\n", start) + 1 : text.index("\nEOF\n", start)]
    assert _dotted(yaml.safe_load(body)) == WORKER_CONFIG


def _dotted(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize(
    ("configured", "expected"), [(logging.WARNING, "warning"), (logging.INFO, "info")]
)
def test_dask_gets_the_level_the_logging_config_gives_it(
    monkeypatch: pytest.MonkeyPatch, configured: int, expected: str
) -> None:
    # conf/logging.yml sets `distributed` (WARNING; INFO in logging-verbose.yml); Dask's own
    # variable carries it to Dask and to the worker processes, which inherit it.
    from pneumothorax.runtime.executors import DASK_LOG_LEVEL_ENV, _dask_log_level

    monkeypatch.delenv(DASK_LOG_LEVEL_ENV, raising=False)
    monkeypatch.setattr(logging.getLogger("distributed"), "level", configured)
    assert _dask_log_level() == configured
    assert os.environ[DASK_LOG_LEVEL_ENV] == expected


def test_a_dask_level_the_user_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from pneumothorax.runtime.executors import DASK_LOG_LEVEL_ENV, _dask_log_level

    monkeypatch.setenv(DASK_LOG_LEVEL_ENV, "error")
    monkeypatch.setattr(logging.getLogger("distributed"), "level", logging.INFO)
    assert _dask_log_level() == logging.ERROR


def _pids_of_workers(_value: int) -> int:
    time.sleep(0.05)
    return os.getpid()


_KILLED_PARENT = """
import os, sys, threading, time
from tests.runtime.test_executors import _pids_of_workers
from pneumothorax.runtime.executors import Executor
if sys.argv[1] == "forkserver":  # a second thread makes map_ordered use the fork server
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
backend = "dask" if sys.argv[1] == "dask" else "processes"
seen = set()
for pid in Executor(backend, workers=2).map(_pids_of_workers, range(100000)):
    if pid not in seen:
        seen.add(pid)
        print(pid, flush=True)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "dask"])
def test_workers_end_when_their_parent_is_killed(start_method: str) -> None:
    """A local Dask cluster's workers are Dask's: checked here that they end too."""
    import signal
    import subprocess
    import sys

    parent = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PARENT, start_method],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    workers = {int(parent.stdout.readline()), int(parent.stdout.readline())}
    assert parent.pid not in workers and all(_running(pid) for pid in workers)
    os.kill(parent.pid, signal.SIGKILL)  # no cleanup of any kind can run in the parent
    parent.wait()
    # Generous: the point is that they end at all (before this fix they waited for ever).
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _running(pid)], "workers outlived their parent"
