"""Nodes of the images pipeline: DICOM pixels to resized PNGs, streamed in chunks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from pneumothorax.dicom.render import convert_to_png
from pneumothorax.executors import map_ordered
from pneumothorax.params import ExecutorParams, ImageParams, strict_flag
from pneumothorax.progress import progress
from pneumothorax.rejections import log_summary, reject
from pneumothorax.run_metrics import MetricsDict, conversion_metrics

#: PNGs handed to the catalog per save: small enough that memory stays flat.
CHUNK_SIZE = 64
#: Columns of ``img_train_log.csv``: one row per candidate file.
LOG_COLUMNS = (
    "id", "status", "reason", "pngs", "photometric_interpretation", "bits_stored",
    "transfer_syntax", "window", "frames", "frames_written", "decoder", "output_bit_depth",
)  # fmt: skip


def render_images(
    dicom_images: Mapping[str, Callable[[], Dataset]],
    image: Mapping[str, Any],
    strict: bool | None,
    executor: Mapping[str, Any] | None,
) -> Iterator[tuple[dict[str, bytes], dict[str, Any]]]:
    """Render every usable image to PNG(s) of ``image.size``, yielding chunks as they are ready.

    A generator node: Kedro saves each yielded chunk before the next is computed, so no
    more than one chunk (plus the executor's bounded in-flight work) is in memory. A file
    that fails yields no PNG at all (a multi-frame file is rendered whole before any of
    its frames is handed over), so nothing partial is ever written for it.

    Args:
        dicom_images: ``{id: load}`` for every candidate file.
        image: The ``image`` group of ``params.yaml``.
        strict: Stop at the first unusable file instead of logging it.
        executor: The ``executor`` group of ``params.yaml``.

    Yields:
        ``({partition: png_bytes}, report)`` per chunk; ``report`` is one growing dict
        (``rows``: one log row per file so far, ``seconds``), passed on by reference.

    Raises:
        BadInputError: ``strict`` and a file is unusable.
    """
    params = ImageParams.from_mapping(image)
    spec = params.render_spec()
    stop = strict_flag(strict)
    settings = ExecutorParams.from_mapping(executor)
    start = time.perf_counter()
    report: dict[str, Any] = {"rows": [], "seconds": 0.0}
    chunk: dict[str, bytes] = {}
    results = map_ordered(
        partial(convert_to_png, spec=spec),
        dicom_images.items(),
        backend=settings.backend,
        workers=settings.worker_count,
    )
    for result in progress(results, total=len(dicom_images), desc="images"):
        if not result.ok:
            row = reject(result, dicom_images, stop, "images")
            report["rows"].append({"id": result.id, "status": "rejected", "reason": row["reason"]})
            continue
        pngs, info = result.value
        report["rows"].append(
            {
                "id": result.id,
                "status": "converted",
                "pngs": len(pngs),
                **info.as_row(),
                "output_bit_depth": 8 if info.window == "colour" else params.bit_depth,
            }
        )
        chunk.update(pngs)
        if len(chunk) >= CHUNK_SIZE:
            report["seconds"] = time.perf_counter() - start
            yield chunk, report
            chunk = {}
    report["seconds"] = time.perf_counter() - start
    yield chunk, report


def summarise_renders(render_report: Mapping[str, Any]) -> tuple[pd.DataFrame, MetricsDict]:
    """Turn the render report into the log table and the run metrics.

    Returns:
        ``img_train_log.csv`` (one row per candidate file, sorted by id: what the rendering
        used, or why the file was rejected) and metrics (files converted and rejected,
        seconds, files/s).
    """
    rows = render_report["rows"]
    table = pd.DataFrame.from_records(rows, columns=list(LOG_COLUMNS))
    table = table.sort_values("id", kind="stable", ignore_index=True)
    for column in ("pngs", "bits_stored", "frames", "frames_written", "output_bit_depth"):
        table[column] = table[column].astype("Int64")
    converted = int((table["status"] == "converted").sum())
    rejected = len(table) - converted
    log_summary("images", converted, rejected)
    return table, conversion_metrics(converted, rejected, float(render_report["seconds"]))
