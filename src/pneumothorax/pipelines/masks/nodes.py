"""Nodes of the masks pipeline: one mask PNG per labelled image, at ``image.size``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from functools import partial

import pandas as pd

from pneumothorax.config.params import ImageParams
from pneumothorax.dicom.render import encode_png
from pneumothorax.dicom.results import FileResult
from pneumothorax.labels.masks import mask_image
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.mapper import FileMapper

#: zlib's default level. On masks' long runs level 9 searches far longer for little: on 186
#: SIIM-like positives at 256 px, 0.95 ms and 424 bytes per mask against 0.33 ms and 552.
_MASK_COMPRESS_LEVEL = 6
#: Masks handed to the catalog at a time, so they are never all in memory (a SIIM mask is
#: ~1 KB at 256 px, but up to ~1 MB at image.size 8192).
CHUNK_SIZE = 256


def render_masks(
    labels: pd.DataFrame, label_runs: pd.DataFrame, image: ImageParams, file_mapper: FileMapper
) -> Iterator[dict[str, bytes]]:
    """Render every labelled image's mask to PNG: 255 inside its regions, 0 elsewhere.

    A generator node: Kedro saves each yielded chunk before the next is rendered. Each
    mask is cached by its image's label rows and shape (:func:`_mask_jobs`), with the size
    and the code: a run after a few images were added, or a few labels changed, draws only
    theirs. Images with the same rows and shape (every negative of one shape) share one
    drawing.

    Args:
        labels: Per-image labels (``id``, ``rows``, ``columns`` of the original).
        label_runs: The images' ``EncodedPixels`` rows (``id``, ``encoded_pixels``).
        image: The ``image`` params (``size``, ``keep_aspect``), as for the PNG layer.
        file_mapper: The per-file runtime (executor, incremental cache, progress).

    Yields:
        ``{id: mask PNG bytes}``, :data:`CHUNK_SIZE` masks at a time.
    """
    # Images with the same rows and shape have the same mask (every negative of one shape:
    # two in three of SIIM's): each distinct mask is drawn, or read from the cache, once,
    # under its first image's id, and saved under every image that shares it.
    ids_of: dict[str, list[str]] = {}
    first_of: dict[str | None, str] = {}
    distinct: list[FileRef] = []
    seen: set[str] = set()
    for job in _mask_jobs(labels, label_runs, image):
        if job.id in seen:  # two masks for one file name: neither could be trusted
            raise ValueError(
                f"masks: image {job.id} has more than one row in the labels table (one per "
                "image expected): rerun the labels stage"
            )
        seen.add(job.id)
        if job.digest not in first_of:
            first_of[job.digest] = job.id
            ids_of[job.id] = []
            distinct.append(job)
        ids_of[first_of[job.digest]].append(job.id)
    results = file_mapper.map(
        _rendered, distinct, stage="masks", kind="mask", code=__name__,
        params={"size": list(image.size), "keep_aspect": image.keep_aspect},
        encode=bytes, decode=bytes,
    )  # fmt: skip
    chunk: dict[str, bytes] = {}
    for result in results:  # the cache's hits first: by name, not by position
        for image_id in ids_of[result.id]:
            chunk[image_id] = result.value
            if len(chunk) >= CHUNK_SIZE:
                yield chunk
                chunk = {}
    yield chunk


def _mask_jobs(labels: pd.DataFrame, label_runs: pd.DataFrame, image: ImageParams) -> list[FileRef]:
    """One job per labelled image, named by its id; its ``load`` renders the mask's PNG.

    Its digest hashes what the mask is drawn from (the image's label rows, in order, and its
    shape); the size and the code are the cache key's params and code.
    """
    runs = label_runs.groupby("id", sort=False)["encoded_pixels"].agg(list).to_dict()
    jobs = []
    shapes = zip(labels["id"], labels["rows"], labels["columns"], strict=True)
    for image_id, rows, columns in shapes:
        shape = (int(rows), int(columns))
        rows_of_image = runs[image_id]
        text = json.dumps([[str(value) for value in rows_of_image], shape])
        digest = hashlib.sha256(text.encode()).hexdigest()
        jobs.append(
            FileRef(
                str(image_id),
                str(image_id),
                partial(_mask_png, rows_of_image, shape, image.size, image.keep_aspect),
                digest=digest,
            )
        )
    return jobs


def _rendered(item: tuple[str, Callable[[], bytes]]) -> FileResult:
    """Per-mask work (on a worker); a failure stops the run, as the labels were checked."""
    image_id, render = item
    return FileResult(image_id, render())


def _mask_png(
    runs: list[str], shape: tuple[int, int], size: tuple[int, int], keep_aspect: bool
) -> bytes:
    return encode_png(mask_image(runs, shape, size, keep_aspect), _MASK_COMPRESS_LEVEL)
