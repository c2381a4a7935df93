"""Nodes of the masks pipeline: one mask PNG per labelled image, at ``image.size``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from pneumothorax.config.params import ImageParams
from pneumothorax.dicom.render import encode_png
from pneumothorax.labels.masks import mask_image

#: Masks are two-valued: the best zlib level costs little and keeps the folder small.
_MASK_COMPRESS_LEVEL = 9


def render_masks(
    labels: pd.DataFrame, label_runs: pd.DataFrame, image: ImageParams
) -> dict[str, Callable[[], bytes]]:
    """``{id: make PNG}`` for every labelled image: 255 inside its regions, 0 elsewhere.

    Args:
        labels: Per-image labels (``id``, ``rows``, ``columns`` of the original).
        label_runs: The images' ``EncodedPixels`` rows (``id``, ``encoded_pixels``).
        image: The ``image`` params (``size``, ``keep_aspect``), as for the PNG layer.

    Returns:
        Callables the folder dataset calls one at a time, so masks are never all in memory.
    """
    runs = label_runs.groupby("id", sort=False)["encoded_pixels"].agg(list).to_dict()
    return {
        str(image_id): partial(
            _mask_png, runs[image_id], (int(rows), int(columns)), image.size, image.keep_aspect
        )
        for image_id, rows, columns in zip(
            labels["id"], labels["rows"], labels["columns"], strict=True
        )
    }


def _mask_png(
    runs: list[str], shape: tuple[int, int], size: tuple[int, int], keep_aspect: bool
) -> bytes:
    return encode_png(mask_image(runs, shape, size, keep_aspect), _MASK_COMPRESS_LEVEL)
