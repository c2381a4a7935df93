"""Pixel padding (PS3.3 C.7.5.1.1.2): which stored pixel values lie outside the patient.

(0028,0120) Pixel Padding Value (General Equipment module) alone names one padding value;
with (0028,0121) Pixel Padding Range Limit (Image Pixel module) the two name an inclusive
range, in either order (PS3.3 asks Value <= Limit for MONOCHROME2 and Value >= Limit for
MONOCHROME1). Both are stored pixel values, before the Modality LUT. Padding must not count
when the dynamic range of an image is worked out (C.7.5.1.1.2, Note 2).

``pydicom.pixels`` has no padding helper (it applies the Modality and VOI LUTs only), so the
few lines that read the two attributes are written here; the renderer and the fast path both
use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

#: image.padding policies: padding pixels rendered black, or kept as ordinary pixels.
PADDING_POLICIES = ("black", "keep")
#: The two attributes; an enhanced object's frame view may carry them (render.frame_view).
PADDING_KEYWORDS = ("PixelPaddingValue", "PixelPaddingRangeLimit")


def padding_range(ds: Dataset) -> tuple[int, int] | None:
    """The inclusive range of stored values that are padding, or None.

    The values are read the way the stored pixels are decoded: the low (0028,0101) Bits
    Stored bits, sign-extended when (0028,0103) Pixel Representation is 1. So a padding
    value of signed data written with VR US (63536 for -2000, as some modalities do) or
    as a 16-bit two's complement for 12-bit data matches the decoded pixels.

    Args:
        ds: A data set or a frame view (``render.frame_view``) with the Image Pixel module.

    Returns:
        ``(low, high)`` with ``low <= high``; None without a usable (0028,0120) Pixel
        Padding Value (absent, empty or not an integer).
    """
    value = _integer(ds.get("PixelPaddingValue"))
    if value is None:
        return None
    limit = _integer(ds.get("PixelPaddingRangeLimit"))
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    first = _as_stored(value, bits, signed)
    second = first if limit is None else _as_stored(limit, bits, signed)
    return min(first, second), max(first, second)


def padding_mask(ds: Dataset, stored: np.ndarray) -> np.ndarray | None:
    """Which pixels of ``stored`` (decoded stored values of one frame) are padding.

    Returns:
        A boolean array shaped like ``stored``, or None when ``ds`` names no padding or
        no pixel is padding.
    """
    span = padding_range(ds)
    if span is None:
        return None
    low, high = np.int64(span[0]), np.int64(span[1])
    mask = (stored >= low) & (stored <= high)
    return mask if mask.any() else None


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):  # VM is 1; take the first if more
        value = value[0] if len(value) else None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_stored(value: int, bits: int, signed: bool) -> int:
    raw = value & ((1 << bits) - 1)
    if signed and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw
