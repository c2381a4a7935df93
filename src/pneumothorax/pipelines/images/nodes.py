"""Nodes of the images pipeline: DICOM pixels to resized PNGs, streamed in chunks."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pneumothorax.config.params import ImageParams
from pneumothorax.dicom.render import RenderSpec, convert_to_png
from pneumothorax.dicom.results import FileResult
from pneumothorax.runtime.compact_rows import CompactRows
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.mapper import FileMapper
from pneumothorax.runtime.rejections import log_summary
from pneumothorax.runtime.run_metrics import MetricsDict, conversion_metrics

#: A chunk is handed to the catalog once it holds this many PNGs or CHUNK_BYTES of them,
#: whichever comes first: memory stays flat for any output size (a 16-bit 1024x1024 PNG is
#: ~2 MB, a SIIM 256x256 one ~20 KB), and a SIIM run logs ~25 saves, not one per 64 files.
CHUNK_SIZE = 512
CHUNK_BYTES = 8 << 20
#: Columns of ``img_train_log.csv``: one row per candidate file.
LOG_COLUMNS = (
    "id", "status", "reason", "pngs", "photometric_interpretation", "bits_stored",
    "transfer_syntax", "window", "frames", "frames_written", "decoder", "output_bit_depth",
)  # fmt: skip


def render_images(
    dicom_images: Mapping[str, FileRef], image: ImageParams, file_mapper: FileMapper
) -> Iterator[tuple[dict[str, bytes], dict[str, Any]]]:
    """Render every usable image to PNG(s) of ``image.size``, yielding chunks as they are ready.

    A generator node: Kedro saves each yielded chunk before the next is computed, so no
    more than one chunk (plus the executor's bounded in-flight work) is in memory. A file
    that fails yields no PNG at all (a multi-frame file is rendered whole before any of
    its frames is handed over), so nothing partial is ever written for it.

    Args:
        dicom_images: Every candidate file, by id.
        image: The ``image`` group of ``params.yaml`` (Kedro's typed parameters build it).
        file_mapper: The per-file runtime (executor, incremental cache, strictness).

    Yields:
        ``({partition: png_bytes}, report)`` per chunk; ``report`` is one growing dict
        (``rows``: :class:`CompactRows`, one per file so far; ``grey_levels``: pixels per
        8-bit grey level over the PNGs so far; ``png_bytes``; ``seconds``), passed on by
        reference.

    Raises:
        BadInputError: ``strict`` and a file is unusable.
    """
    spec = RenderSpec(**image.model_dump())
    report = _new_report()
    chunk: dict[str, bytes] = {}
    chunk_bytes = 0
    results = file_mapper.map(
        partial(convert_to_png, spec=spec), list(dicom_images.values()), stage="images",
        kind="png", code=__name__, params=spec.__dict__,
        # A local cache of our own results (never shared or downloaded): pickle is safe here.
        encode=pickle.dumps, decode=pickle.loads,
    )  # fmt: skip
    for result in results:
        if not result.ok:
            row = file_mapper.reject(result, dicom_images[result.id], "images")
            report["rows"].add({"id": result.id, "status": "rejected", "reason": row["reason"]})
            continue
        pngs = _add_render(report, result, image.bit_depth)
        chunk.update(pngs)
        chunk_bytes += sum(len(png) for png in pngs.values())
        if len(chunk) >= CHUNK_SIZE or chunk_bytes >= CHUNK_BYTES:
            yield chunk, _timed(report)
            # Kedro splits a generator's tuples with itertools.tee (more_itertools.unzip),
            # whose buffer keeps each yielded tuple alive for a block of up to 57 items:
            # a fresh dict per chunk would keep ~57 chunks of PNG bytes in memory. Both
            # parts are saved before the generator resumes, so empty this one instead.
            chunk.clear()
            chunk_bytes = 0
    yield chunk, _timed(report)


def _new_report() -> dict[str, Any]:
    return {
        "rows": CompactRows(),
        "grey_levels": np.zeros(256, dtype=np.int64),
        "png_bytes": 0,
        "seconds": 0.0,
        "start": time.perf_counter(),
    }


def _timed(report: dict[str, Any]) -> dict[str, Any]:
    report["seconds"] = time.perf_counter() - report["start"]
    return report


def _add_render(report: dict[str, Any], result: FileResult, bit_depth: int) -> dict[str, bytes]:
    """Count a converted file in ``report``; return its PNGs by partition id."""
    frames, info = result.value
    report["grey_levels"] += info.grey_levels
    report["rows"].add(
        {
            "id": result.id,
            "status": "converted",
            "pngs": len(frames),
            **info.as_row(),
            "output_bit_depth": 8 if info.window == "colour" else bit_depth,
        }
    )
    report["png_bytes"] += sum(len(png) for png in frames.values())
    # Frame keys are relative ("" or "/0003"), so a cached result serves any id.
    return {f"{result.id}{suffix}": png for suffix, png in frames.items()}


def summarise_renders(
    render_report: Mapping[str, Any],
) -> tuple[pd.DataFrame, MetricsDict, pd.DataFrame]:
    """Turn the render report into the log table, the run metrics and the pixel histogram.

    Returns:
        ``img_train_log.csv`` (one row per candidate file, sorted by id: what the rendering
        used, or why the file was rejected), metrics (files converted and rejected, PNG
        bytes, mean 8-bit grey level, seconds, files/s) and ``pixel_intensity.csv``
        (``intensity`` 0..255, ``pixels``: the count over every PNG written, in 8-bit grey
        levels).
    """
    table = render_report["rows"].table(LOG_COLUMNS)
    table = table.sort_values("id", kind="stable", ignore_index=True)
    for column in ("pngs", "bits_stored", "frames", "frames_written", "output_bit_depth"):
        table[column] = table[column].astype("Int64")
    converted = int((table["status"] == "converted").sum())
    rejected = len(table) - converted
    log_summary("images", converted, rejected)
    grey_levels = np.asarray(render_report["grey_levels"], dtype=np.int64)
    pixels = int(grey_levels.sum())
    # Deterministic image statistics for `dvc metrics diff` (an image.size experiment
    # changes them); exact integer sums, rounded once.
    mean_grey = round(int(grey_levels @ np.arange(256)) / pixels, 4) if pixels else 0.0
    metrics = conversion_metrics(
        converted,
        rejected,
        float(render_report["seconds"]),
        png_bytes=int(render_report.get("png_bytes", 0)),
        mean_grey_level=mean_grey,
    )
    histogram = pd.DataFrame({"intensity": np.arange(256), "pixels": grey_levels})
    return table, metrics, histogram
