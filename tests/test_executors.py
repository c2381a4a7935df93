"""map_ordered: every backend gives the same results in input order, bounded in flight."""

from __future__ import annotations

import os

import pytest

from pneumothorax.executors import DASK_SCHEDULER_ENV, map_ordered


def _square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


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


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown executor backend 'threads'"):
        list(map_ordered(_square_with_pid, range(3), backend="threads", workers=2))
