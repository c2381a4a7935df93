"""Masks as images: a label's regions at the converted images' size and geometry."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pneumothorax.labels.rle import NEGATIVE, decode


def mask_image(
    runs: list[str], shape: tuple[int, int], size: tuple[int, int], keep_aspect: bool = False
) -> Image.Image:
    """One image's mask at ``size``: mode L, 255 inside a region, 0 elsewhere.

    Resized nearest-neighbour (values stay 0 and 255), with the images' geometry:
    stretched, or with ``keep_aspect`` fitted and centred like
    :func:`pneumothorax.dicom.render.resize` (a test checks they agree).

    Args:
        runs: The image's ``EncodedPixels`` values (``["-1"]`` for a negative).
        shape: ``(rows, columns)`` of the original image.
        size: ``(width, height)`` of the converted images.
        keep_aspect: ``image.keep_aspect``.
    """
    width, height = size
    if all(value.strip() == NEGATIVE for value in runs):
        # Most of SIIM's images: nothing to decode; the same all-zero pixels as below.
        return Image.new("L", (width, height), 0)
    mask = _full_size(runs, shape)
    target = (width, height)
    if keep_aspect:
        rows, columns = shape
        scale = min(width / columns, height / rows)
        target = (max(1, round(columns * scale)), max(1, round(rows * scale)))
    if mask.size != target:
        mask = mask.resize(target, Image.Resampling.NEAREST)
    if target == (width, height):
        return mask
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(mask, ((width - target[0]) // 2, (height - target[1]) // 2))
    return canvas


def _full_size(runs: list[str], shape: tuple[int, int]) -> Image.Image:
    """The runs' union at the original size, 255 inside.

    Decoded straight to uint8 and handed to Pillow as filled, in column-major order, for
    Pillow to transpose: one buffer instead of a bool mask and two converted copies (~3x
    faster on SIIM's positives).
    """
    columns_first = decode(runs, shape, fill=np.uint8(255)).T
    return Image.fromarray(columns_first, mode="L").transpose(Image.Transpose.TRANSPOSE)
