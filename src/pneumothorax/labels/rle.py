"""Run-length encoding of masks exactly as SIIM-ACR's ``train-rle.csv`` spells it.

SIIM's format is its own (the competition's ``mask_functions.py``), not COCO's or
Kaggle's usual absolute one, so no library reads it: pixels are numbered column-major
(down the first column, then the next), from 0; a mask is ``start length start length
...`` where the first start is the index of the first pixel of the first run and every
later start is the gap after the end of the previous run; ``-1`` is an empty mask. An
image with several regions has several rows, one string each.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: The value of ``EncodedPixels`` for an image without pneumothorax.
NEGATIVE = "-1"
#: Digits of the longest number a value may hold: a DICOM image has at most 65,535 x 65,535
#: pixels (10 digits); a few leading zeros are tolerated.
_MAX_DIGITS = 20


class RleError(ValueError):
    """An ``EncodedPixels`` value that is not a valid SIIM run-length encoding."""


def parse_runs(encoded: str) -> list[tuple[int, int]]:
    """Parse one ``EncodedPixels`` value into ``(relative start, length)`` pairs.

    Args:
        encoded: ``"-1"`` or space-separated non-negative integers, an even number of them.

    Returns:
        The pairs in file order; ``[]`` for ``"-1"``.

    Raises:
        RleError: Not integers, an odd count, a negative start or a length below 1.
    """
    text = encoded.strip()
    if text == NEGATIVE:
        return []
    values = text.split()
    if not values:
        raise RleError("empty EncodedPixels (use -1 for no pneumothorax)")
    # ASCII digits only: str.isdigit() also passes "²" (which int() refuses) and "٣".
    digits = "".join(values)
    if not (digits.isascii() and digits.isdigit()):
        raise RleError("EncodedPixels holds something other than non-negative integers")
    longest = max(map(len, values))
    if longest > _MAX_DIGITS:  # and int() refuses over 4,300 digits with a ValueError
        raise RleError(f"a number of {longest} digits: more than any image has pixels")
    if len(values) % 2:
        raise RleError(f"odd number of values ({len(values)}): runs are (start, length) pairs")
    numbers = list(map(int, values))
    pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))
    if any(length < 1 for _, length in pairs):
        raise RleError("a run of length 0")
    return pairs


def spans(encoded: str, shape: tuple[int, int]) -> list[tuple[int, int]]:
    """One value's runs as absolute ``[start, end)`` flat pixel indices (column-major).

    Args:
        encoded: One ``EncodedPixels`` value.
        shape: ``(rows, columns)`` of the original image.

    Returns:
        The runs in file order; ``[]`` for ``"-1"``.

    Raises:
        RleError: A malformed value, or a run that ends past the last pixel.
    """
    rows, columns = shape
    pixels = rows * columns
    position, result = 0, []
    for start, length in parse_runs(encoded):
        position += start
        end = position + length
        if end > pixels:
            raise RleError(
                f"a run ends at pixel {end}, past the {rows}x{columns} image ({pixels} pixels)"
            )
        result.append((position, end))
        position = end
    return result


def union_area(runs: Iterable[tuple[int, int]]) -> int:
    """Pixels covered by the union of ``[start, end)`` runs (overlaps counted once).

    Equal to ``decode(values, shape).sum()`` without building the image: checking
    SIIM's 10,712 label rows this way takes milliseconds instead of seconds.
    """
    area, reached = 0, 0
    for start, end in sorted(runs):
        if end > reached:
            area += end - max(start, reached)
            reached = end
    return area


def decode(
    encoded: str | Iterable[str], shape: tuple[int, int], fill: bool | np.uint8 = True
) -> np.ndarray:
    """Decode one value, or the union of several rows of one image, to a mask array.

    Args:
        encoded: One ``EncodedPixels`` value, or all of an image's values.
        shape: ``(rows, columns)`` of the original image.
        fill: The value inside the regions, whose type is the array's: ``True`` gives a
            ``bool`` mask, ``np.uint8(255)`` a mask image's pixels.

    Returns:
        An array of ``shape``; ``fill`` inside the regions, 0 elsewhere. It is the
        transposed view of the buffer filled in SIIM's column-major order, so its ``.T``
        is contiguous.

    Raises:
        RleError: A malformed value, or a run that ends past the last pixel.
    """
    rows, columns = shape
    flat = np.zeros(rows * columns, dtype=np.asarray(fill).dtype)
    for value in [encoded] if isinstance(encoded, str) else encoded:
        for start, end in spans(value, shape):
            flat[start:end] = fill
    # Column-major numbering: the flat index is column * rows + row.
    return flat.reshape((columns, rows)).T


def encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (non-zero = inside) as one SIIM ``EncodedPixels`` value.

    Args:
        mask: ``(rows, columns)`` array.

    Returns:
        ``"start length ..."`` with relative starts, or ``"-1"`` for an empty mask.

    Raises:
        RleError: ``mask`` is not 2-D.
    """
    if mask.ndim != 2:
        raise RleError(f"a mask must be 2-D, got shape {mask.shape}")
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    # Run boundaries: where the padded sequence switches between 0 and 1.
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flat, [False])).astype(np.int8)))
    if edges.size == 0:
        return NEGATIVE
    starts, ends = edges[0::2], edges[1::2]
    gaps = starts - np.concatenate(([0], ends[:-1]))
    return " ".join(f"{gap} {length}" for gap, length in zip(gaps, ends - starts, strict=True))
