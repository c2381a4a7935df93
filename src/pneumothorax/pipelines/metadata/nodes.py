"""Nodes of the metadata pipeline: DICOM headers to one table, one row per file."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from pneumothorax.dicom.metadata import ID_COLUMN, column_order, read_header_row
from pneumothorax.executors import map_ordered
from pneumothorax.incremental import ResultCache, cache_directory, code_version, map_cached
from pneumothorax.params import ExecutorParams, IncrementalParams
from pneumothorax.progress import progress
from pneumothorax.run_metrics import MetricsDict, conversion_metrics

logger = logging.getLogger(__name__)

#: Modules whose source decides a row: a change to any rereads every header.
CODE_MODULES = (
    "pneumothorax.dicom.metadata",
    "pneumothorax.dicom.results",
    "pneumothorax.dicom.sniff",
    "pneumothorax.datasets.dicom_dataset",
    __name__,
)


def extract_metadata(
    dicom_headers: Mapping[str, Callable[[], Dataset]],
    executor: Mapping[str, Any] | None,
    incremental: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, MetricsDict]:
    """Read every header (no pixel decoding) and build the metadata table.

    Args:
        dicom_headers: ``{id: load}`` for every candidate file, loaders stopping before
            (7FE0,0010) Pixel Data.
        executor: The ``executor`` group of ``params.yaml``.
        incremental: The ``incremental`` group: rows of unchanged inputs come from the
            cache (:mod:`pneumothorax.incremental`), equal to a fresh read.

    Returns:
        The table (``id`` first, then one column per keyword in tag order, rows sorted by
        id) and run metrics (files read, rejected, seconds, files/s).
    """
    settings = ExecutorParams.from_mapping(executor)
    reuse = IncrementalParams.from_mapping(incremental)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    rejected = 0
    cache = ResultCache(cache_directory(reuse.cache_dir)) if reuse.enabled else None
    results = map_cached(
        read_header_row,
        dicom_headers.items(),
        mapper=partial(
            map_ordered,
            backend=settings.backend,
            workers=settings.worker_count,
            scheduler_address=settings.scheduler_address,
        ),
        cache=cache,
        kind="header-row",
        code=code_version(CODE_MODULES),
        params={},
        encode=_encode_row,
        decode=json.loads,
    )
    for result in progress(results, total=len(dicom_headers), desc="metadata"):
        if result.ok:
            rows.append({ID_COLUMN: result.id, **result.value})
        else:
            rejected += 1
            logger.warning("skipped %s", result.error)
    if cache is not None:
        cache.close()
    table = build_table(rows)
    seconds = time.perf_counter() - start
    metrics = conversion_metrics(len(rows), rejected, seconds)
    if rejected:
        logger.warning("metadata: %d file(s) skipped, %d read", rejected, len(rows))
    return table, metrics


def build_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Assemble rows into one table in a single step (never grown row by row).

    Returns:
        ``id`` first, then keywords in DICOM tag order; rows sorted by ``id``.
    """
    columns = [ID_COLUMN, *column_order(rows)]
    table = pd.DataFrame.from_records(rows, columns=columns)
    return table.sort_values(ID_COLUMN, kind="stable", ignore_index=True)


def _encode_row(row: dict[str, Any]) -> bytes:
    # JSON keeps str/int/float/None exactly (floats round-trip), so a cached row builds
    # the same CSV bytes as a fresh read; key order (tag order) is kept.
    return json.dumps(row, ensure_ascii=False).encode()
