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
from pneumothorax.incremental import ResultCache, cache_directory, code_version, map_cached
from pneumothorax.params import ExecutorParams, ImageParams, IncrementalParams
from pneumothorax.progress import progress
from pneumothorax.run_metrics import MetricsDict, conversion_metrics

logger = logging.getLogger(__name__)

#: PNGs handed to the catalog per save: small enough that memory stays flat.
CHUNK_SIZE = 64

#: Modules whose source decides the PNG bytes: a change to any reconverts every file.
CODE_MODULES = (
    "pneumothorax.dicom.render",
    "pneumothorax.dicom.fast_decode",
    "pneumothorax.dicom.results",
    "pneumothorax.dicom.sniff",
    "pneumothorax.datasets.dicom_dataset",
    __name__,
)


def render_images(
    dicom_images: Mapping[str, Callable[[], Dataset]],
    image: Mapping[str, Any],
    executor: Mapping[str, Any] | None,
    incremental: Mapping[str, Any] | None = None,
) -> Iterator[tuple[dict[str, bytes], MetricsDict]]:
    """Render every image to a PNG of ``image.size``, yielding chunks as they are ready.

    A generator node: Kedro saves each yielded chunk before the next is computed, so
    no more than one chunk (plus the executor's bounded in-flight work) is in memory.

    Args:
        dicom_images: ``{id: load}`` for every candidate file.
        image: The ``image`` group of ``params.yaml``.
        executor: The ``executor`` group of ``params.yaml``.
        incremental: The ``incremental`` group: PNGs of unchanged inputs come from the
            cache (:mod:`pneumothorax.incremental`), byte-identical to a conversion.

    Yields:
        ``({id: png_bytes}, {})`` per chunk, then ``({...last...}, metrics)``.
    """
    spec = ImageParams.from_mapping(image).render_spec()
    settings = ExecutorParams.from_mapping(executor)
    reuse = IncrementalParams.from_mapping(incremental)
    start = time.perf_counter()
    converted = rejected = 0
    chunk: dict[str, bytes] = {}
    cache = ResultCache(cache_directory(reuse.cache_dir)) if reuse.enabled else None
    results = map_cached(
        partial(convert_to_png, spec=spec),
        dicom_images.items(),
        mapper=partial(
            map_ordered,
            backend=settings.backend,
            workers=settings.worker_count,
            scheduler_address=settings.scheduler_address,
        ),
        cache=cache,
        kind="png",
        code=code_version(CODE_MODULES),
        params={"size": list(spec.size), "png_compress_level": spec.png_compress_level},
        encode=bytes,
        decode=bytes,
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
    if cache is not None:
        cache.close()
    seconds = time.perf_counter() - start
    if rejected:
        logger.warning("images: %d file(s) skipped, %d converted", rejected, converted)
    yield chunk, conversion_metrics(converted, rejected, seconds)
