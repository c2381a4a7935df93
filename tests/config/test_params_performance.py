"""The executor and incremental groups of params.yaml are validated at start-up."""

from __future__ import annotations

import pytest

from pneumothorax.config.params import ExecutorParams, IncrementalParams, ParamsError


def test_dask_backend_with_a_scheduler_address_is_accepted() -> None:
    params = ExecutorParams.from_mapping(
        {"backend": "dask", "workers": 2, "scheduler_address": "tcp://127.0.0.1:8786"}
    )
    assert (params.backend, params.worker_count, params.scheduler_address) == (
        "dask",
        2,
        "tcp://127.0.0.1:8786",
    )


@pytest.mark.parametrize(
    ("group", "raw", "message"),
    [
        (ExecutorParams, {"scheduler_address": 8786}, "executor.scheduler_address must be"),
        (ExecutorParams, {"backend": "threads"}, "executor.backend must be one of .*dask"),
        (IncrementalParams, {"enabled": "yes"}, "incremental.enabled must be true or false"),
        (IncrementalParams, {"cache_dir": 3}, "incremental.cache_dir must be a path"),
        (IncrementalParams, {"cahce_dir": None}, r"unknown key\(s\) incremental.cahce_dir"),
    ],
)
def test_bad_values_fail_naming_the_key(group: type, raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        group.from_mapping(raw)


def test_incremental_defaults_to_on_with_the_repository_cache() -> None:
    assert IncrementalParams.from_mapping(None) == IncrementalParams(enabled=True, cache_dir=None)
