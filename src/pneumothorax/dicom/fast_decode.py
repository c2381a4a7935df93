"""A fast path for the common case: 8-bit greyscale images whose stored values are display values.

SIIM-ACR (and most chest-radiograph exports converted to 8 bits) store MONOCHROME2, 8 bits,
no (0028,1052) Rescale Intercept / (0028,1053) Rescale Slope and no VOI attributes: the
grayscale pipeline of PS3.4 N.2 is then the identity, and the only costly steps are decoding
and resizing. For those files this module

- decodes a JPEG Baseline codestream at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg's
  scaled IDCT through Pillow's ``Image.draft``), which is ~10x cheaper than a full decode;
- shrinks uncompressed pixels by an integer box reduction first, then resamples with Lanczos
  (Pillow's ``reducing_gap``), instead of a Lanczos filter over the full image.

Pixel padding (PS3.3 C.7.5.1.1.2) is rendered black here as on the full path: uncompressed
padding pixels are set to 0 before the resize; a JPEG whose padding is not already 0 takes the
full path (the DCT-scaled decode blends padding with its neighbours before it could be masked).

Both shrink to at least :data:`REDUCING_GAP` times the target size before the final Lanczos
step, so the result stays within a fraction of a grey level of a full decode + Lanczos (checked by
``tests/dicom/test_fast_decode.py``). Anything else returns ``None`` and takes the full path.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from pneumothorax.dicom.padding import padding_mask, padding_range

#: Intermediate size kept, as a multiple of the target, before the final Lanczos step.
#: 1.0 (decode/reduce straight to >= the target) measured 0.21 grey levels MAE against a full
#: decode + Lanczos on 1024->256 SIIM-like data at ~5x less time than 2.0 (MAE 0.23): the
#: DCT-scaled IDCT and the box reduction are themselves good low-pass filters.
REDUCING_GAP = 1.0

_UNCOMPRESSED = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
# Attributes that make the stored values differ from the display values (PS3.4 N.2).
_TRANSFORMS = (
    "RescaleSlope",
    "RescaleIntercept",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTSequence",
    "PresentationLUTShape",
    # Enhanced objects may keep Rescale, Window and Pixel Padding values in these (PS3.3
    # C.7.6.16): only the full path reads them (render.frame_view).
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
)


def fast_path_applies(ds: Dataset, padding: str = "black") -> bool:
    """Whether ``ds`` is 8-bit single-frame MONOCHROME2 with no modality or VOI transform.

    Args:
        ds: A full data set (with (7FE0,0010) Pixel Data).
        padding: The ``image.padding`` policy (``"black"`` or ``"keep"``).

    Returns:
        True when :func:`render_fast` gives the display image.
    """
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax != JPEGBaseline8Bit and syntax not in _UNCOMPRESSED:
        return False
    if "PixelData" not in ds or any(keyword in ds for keyword in _TRANSFORMS):
        return False
    if syntax == JPEGBaseline8Bit and _blackens_padding(ds, padding):
        return False
    return (
        str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME2"
        and int(ds.get("SamplesPerPixel", 1)) == 1
        and int(ds.get("BitsAllocated", 0)) == 8
        and int(ds.get("BitsStored", 0)) == 8
        and int(ds.get("PixelRepresentation", 0)) == 0
        and int(ds.get("NumberOfFrames", 1) or 1) == 1
    )


def render_fast(ds: Dataset, size: tuple[int, int], padding: str = "black") -> Image.Image | None:
    """Decode and resize frame 0 of ``ds`` to ``size`` = ``(width, height)``, cheaply.

    Args:
        ds: A data set for which :func:`fast_path_applies` is True.
        size: Output ``(width, height)``.
        padding: The ``image.padding`` policy: with ``"black"`` padding pixels become 0.

    Returns:
        An ``L`` image of ``size``, or ``None`` when the data do not fit the fast path
        after all (e.g. a JPEG whose header disagrees with (0028,0010) Rows /
        (0028,0011) Columns); the caller then takes the full path.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax == JPEGBaseline8Bit:
        image = _decode_jpeg_scaled(get_frame(ds.PixelData, 0, number_of_frames=1), size)
        if image is None or _full_size(image) != (columns, rows):
            return None
    else:
        data = ds.PixelData
        if len(data) < rows * columns:
            return None
        image = Image.frombuffer("L", (columns, rows), data[: rows * columns], "raw", "L", 0, 1)
        if _blackens_padding(ds, padding):
            stored = np.asarray(image)
            pad = padding_mask(ds, stored)
            if pad is not None:
                image = Image.fromarray(np.where(pad, 0, stored).astype(np.uint8), mode="L")
    width, height = size
    if image.size == (width, height):
        return image.copy() if image.size == (columns, rows) else image
    # reducing_gap: an integer box reduction down to >= REDUCING_GAP x the target, then Lanczos.
    return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _blackens_padding(ds: Dataset, padding: str) -> bool:
    # Stored values are display values here, so padding that is already 0 needs no change.
    return padding == "black" and padding_range(ds) not in (None, (0, 0))


def _full_size(image: Image.Image) -> tuple[int, int]:
    # After draft(), .size is the scaled size; the frame header keeps the original one.
    return tuple(image.info.get("pneumothorax_full_size", image.size))


def _decode_jpeg_scaled(codestream: bytes, size: tuple[int, int]) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(codestream))
        if image.format != "JPEG" or image.mode != "L":
            return None
        full = image.size
        # draft() picks the largest DCT scale (1/2, 1/4, 1/8) still >= the requested size.
        wanted = (int(size[0] * REDUCING_GAP), int(size[1] * REDUCING_GAP))
        image.draft("L", (min(wanted[0], full[0]), min(wanted[1], full[1])))
        image.load()
    except (OSError, SyntaxError, ValueError):
        # Corrupt or cut short: the full path retries with pydicom's decoders and reports
        # the file's reason in the same words as for any other syntax.
        return None
    image.info["pneumothorax_full_size"] = full
    return image
