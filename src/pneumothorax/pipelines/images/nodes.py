"""Nodes of the images pipeline: DICOM pixels to resized PNGs, streamed in chunks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from pydicom.dataset import Dataset

from pneumothorax.dicom.render import convert_to_png
from pneumothorax.executors import map_ordered
from pneumothorax.params import ExecutorParams, ImageParams
from pneumothorax.progress import progress
from pneumothorax.run_metrics import MetricsDict, conversion_metrics

logger = logging.getLogger(__name__)

#: PNGs handed to the catalog per save: small enough that memory stays flat.
CHUNK_SIZE = 64


def render_images(
    dicom_images: Mapping[str, Callable[[], Dataset]],
    image: Mapping[str, Any],
    executor: Mapping[str, Any] | None,
) -> Iterator[tuple[dict[str, bytes], MetricsDict]]:
    """Render every image to a PNG of ``image.size``, yielding chunks as they are ready.

    A generator node: Kedro saves each yielded chunk before the next is computed, so
    no more than one chunk (plus the executor's bounded in-flight work) is in memory.

    Args:
        dicom_images: ``{id: load}`` for every candidate file.
        image: The ``image`` group of ``params.yaml``.
        executor: The ``executor`` group of ``params.yaml``.

    Yields:
        ``({id: png_bytes}, {})`` per chunk, then ``({...last...}, metrics)``.
    """
    spec = ImageParams.from_mapping(image).render_spec()
    settings = ExecutorParams.from_mapping(executor)
    start = time.perf_counter()
    converted = rejected = 0
    chunk: dict[str, bytes] = {}
    results = map_ordered(
        partial(convert_to_png, spec=spec),
        dicom_images.items(),
        backend=settings.backend,
        workers=settings.worker_count,
    )
    for result in progress(results, total=len(dicom_images), desc="images"):
        if not result.ok:
            rejected += 1
            logger.warning("skipped %s", result.error)
            continue
        converted += 1
        chunk[result.id] = result.value
        if len(chunk) >= CHUNK_SIZE:
            yield chunk, {}
            chunk = {}
    seconds = time.perf_counter() - start
    if rejected:
        logger.warning("images: %d file(s) skipped, %d converted", rejected, converted)
    yield chunk, conversion_metrics(converted, rejected, seconds)
