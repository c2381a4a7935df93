"""Nodes of the metadata pipeline: DICOM headers to one table, one row per usable file."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from pneumothorax.compact_rows import CompactRows
from pneumothorax.dicom.deid import make_deidentifier
from pneumothorax.dicom.metadata import (
    ID_COLUMN,
    MetadataOptions,
    column_order,
    read_metadata_row,
)
from pneumothorax.executors import map_ordered
from pneumothorax.incremental import ResultCache, cache_directory, code_version, map_cached
from pneumothorax.params import ExecutorParams, IncrementalParams, MetadataParams, strict_flag
from pneumothorax.progress import progress
from pneumothorax.rejections import log_summary, reject, rejected_table
from pneumothorax.run_metrics import MetricsDict, conversion_metrics

#: Modules whose source decides a row: a change to any rereads every file.
CODE_MODULES = (
    "pneumothorax.dicom.metadata",
    "pneumothorax.dicom.deid",
    "pneumothorax.dicom.validate",
    "pneumothorax.dicom.render",
    "pneumothorax.dicom.fast_decode",
    "pneumothorax.dicom.results",
    "pneumothorax.dicom.sniff",
    "pneumothorax.datasets.dicom_dataset",
    __name__,
)


def extract_metadata(
    dicom_images: Mapping[str, Callable[[], Dataset]],
    metadata: Mapping[str, Any] | None,
    strict: bool | None,
    executor: Mapping[str, Any] | None,
    deid_key: str,
    incremental: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Check every file, de-identify and flatten the usable ones, list the others.

    Args:
        dicom_images: ``{id: load}`` for every candidate file.
        metadata: The ``metadata`` group of ``params.yaml``.
        strict: Stop at the first unusable file instead of listing it.
        executor: The ``executor`` group of ``params.yaml``.
        deid_key: The pseudonymisation key (``""`` if none; needed when ``metadata.deid``).
        incremental: The ``incremental`` group: rows of unchanged inputs come from the
            cache (:mod:`pneumothorax.incremental`), equal to a fresh read.

    Returns:
        The table (``id`` first, then one column per keyword in tag order, rows sorted by
        id), the rejected files (id, path, reason) and run metrics.

    Raises:
        BadInputError: ``strict`` and a file is unusable.
        DeidKeyError: De-identification is on and there is no key.
    """
    settings = MetadataParams.from_mapping(metadata)
    stop = strict_flag(strict)
    options = MetadataOptions(
        private_tags=settings.private_tags,
        deidentifier=make_deidentifier(deid_key, settings.date_shift) if settings.deid else None,
    )
    workers = ExecutorParams.from_mapping(executor)
    reuse = IncrementalParams.from_mapping(incremental)
    start = time.perf_counter()
    rows = CompactRows()
    rejected: list[dict[str, str]] = []
    cache = ResultCache(cache_directory(reuse.cache_dir)) if reuse.enabled else None
    results = map_cached(
        partial(read_metadata_row, options=options),
        dicom_images.items(),
        mapper=partial(
            map_ordered,
            backend=workers.backend,
            workers=workers.worker_count,
            scheduler_address=workers.scheduler_address,
        ),
        cache=cache,
        kind="metadata-row",
        code=code_version(CODE_MODULES),
        params=_row_params(settings, deid_key),
        encode=_encode_row,
        decode=json.loads,
    )
    try:
        for result in progress(results, total=len(dicom_images), desc="metadata"):
            if result.ok:
                rows.add({ID_COLUMN: result.id, **result.value})
            else:
                rejected.append(reject(result, dicom_images, stop, "metadata"))
    finally:
        if cache is not None:
            cache.close()
    log_summary("metadata", len(rows), len(rejected))
    metrics = conversion_metrics(len(rows), len(rejected), time.perf_counter() - start)
    return build_table(rows), rejected_table(rejected), metrics


def build_table(rows: CompactRows) -> pd.DataFrame:
    """Assemble the rows into one table in a single step (never grown row by row).

    Returns:
        ``id`` first, then keywords in DICOM tag order; rows sorted by ``id``.
    """
    names = [ID_COLUMN, *column_order([dict.fromkeys(rows.names())])]
    return rows.table(names).sort_values(ID_COLUMN, kind="stable", ignore_index=True)


def _row_params(settings: MetadataParams, deid_key: str) -> dict[str, Any]:
    """What, besides the input bytes and the code, decides a row (the cache key's params)."""
    params: dict[str, Any] = {
        "deid": settings.deid,
        "date_shift": settings.date_shift,
        "private_tags": settings.private_tags,
    }
    if settings.deid:
        # Rows hold pseudonyms made with the key: another key must miss the cache. Only a
        # digest enters the key, never the secret itself.
        params["key_sha256"] = hashlib.sha256(deid_key.encode()).hexdigest()
    return params


def _encode_row(row: dict[str, Any]) -> bytes:
    # JSON keeps str/int/float/None exactly (floats round-trip), so a cached row builds
    # the same CSV bytes as a fresh read; key order (tag order) is kept.
    return json.dumps(row, ensure_ascii=False).encode()
