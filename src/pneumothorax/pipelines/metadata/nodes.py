"""Nodes of the metadata pipeline: DICOM headers to one table, one row per usable file."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from pneumothorax.dicom.deid import make_deidentifier
from pneumothorax.dicom.metadata import (
    ID_COLUMN,
    MetadataOptions,
    column_order,
    read_metadata_row,
)
from pneumothorax.executors import map_ordered
from pneumothorax.params import ExecutorParams, MetadataParams, strict_flag
from pneumothorax.progress import progress
from pneumothorax.rejections import log_summary, reject, rejected_table
from pneumothorax.run_metrics import MetricsDict, conversion_metrics


def extract_metadata(
    dicom_images: Mapping[str, Callable[[], Dataset]],
    metadata: Mapping[str, Any] | None,
    strict: bool | None,
    executor: Mapping[str, Any] | None,
    deid_key: str,
) -> tuple[pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Check every file, de-identify and flatten the usable ones, list the others.

    Args:
        dicom_images: ``{id: load}`` for every candidate file.
        metadata: The ``metadata`` group of ``params.yaml``.
        strict: Stop at the first unusable file instead of listing it.
        executor: The ``executor`` group of ``params.yaml``.
        deid_key: The pseudonymisation key (``""`` if none; needed when ``metadata.deid``).

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
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    results = map_ordered(
        partial(read_metadata_row, options=options),
        dicom_images.items(),
        backend=workers.backend,
        workers=workers.worker_count,
    )
    for result in progress(results, total=len(dicom_images), desc="metadata"):
        if result.ok:
            rows.append({ID_COLUMN: result.id, **result.value})
        else:
            rejected.append(reject(result, dicom_images, stop, "metadata"))
    log_summary("metadata", len(rows), len(rejected))
    metrics = conversion_metrics(len(rows), len(rejected), time.perf_counter() - start)
    return build_table(rows), rejected_table(rejected), metrics


def build_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Assemble rows into one table in a single step (never grown row by row).

    Returns:
        ``id`` first, then keywords in DICOM tag order; rows sorted by ``id``.
    """
    columns = [ID_COLUMN, *column_order(rows)]
    table = pd.DataFrame.from_records(rows, columns=columns)
    return table.sort_values(ID_COLUMN, kind="stable", ignore_index=True)
