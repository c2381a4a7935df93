"""Render DICOM pixel data as display-ready 8-bit images, the way a viewer shows them."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

from pneumothorax.dicom.fast_decode import fast_path_applies, render_fast
from pneumothorax.dicom.results import FileResult, failure

_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True)
class RenderSpec:
    """How to turn one DICOM image into one PNG.

    Attributes:
        size: Output ``(width, height)`` in pixels.
        png_compress_level: zlib level 0-9 for the PNG encoder.
    """

    size: tuple[int, int] = (256, 256)
    png_compress_level: int = 6


def to_display(ds: Dataset, arr: np.ndarray | None = None) -> np.ndarray:
    """Apply the grayscale pipeline of PS3.4 N.2 and return 8-bit display values.

    Modality LUT ((0028,1052) Rescale Intercept / (0028,1053) Rescale Slope or the Modality
    LUT Sequence), then VOI ((0028,1050) Window Center / (0028,1051) Window Width, first
    pair, or the VOI LUT Sequence), both through :mod:`pydicom.pixels`; MONOCHROME1 is
    inverted so bone is white. Without any VOI attribute, data of at most 8 bits stored
    keep their stored values (0..255 maps to itself); deeper data are stretched from their
    minimum to their maximum.

    Args:
        ds: The data set (with Pixel Data).
        arr: Frame 0 already decoded, if the caller has it.

    Returns:
        ``uint8`` array of shape ``(rows, columns)``, or ``(rows, columns, 3)`` for colour.
    """
    if arr is None:
        arr = pixel_array(ds, index=0)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in _MONOCHROME:
        return np.clip(arr, 0, 255).astype(np.uint8) if arr.dtype != np.uint8 else arr
    values = apply_modality_lut(arr, ds).astype(np.float64, copy=False)
    low, high = _display_range(ds, values)
    if _has_voi(ds):
        values = apply_voi_lut(values, ds)
    scaled = np.clip(np.rint((values - low) / max(high - low, 1e-12) * 255.0), 0, 255)
    out = scaled.astype(np.uint8)
    return 255 - out if photometric == "MONOCHROME1" else out


def resize(display: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Stretch ``display`` to ``size`` = ``(width, height)`` with a Lanczos filter."""
    image = Image.fromarray(display, mode="RGB" if display.ndim == 3 else "L")
    if image.size == tuple(size):
        return image
    return image.resize(tuple(size), Image.Resampling.LANCZOS)


def encode_png(image: Image.Image, compress_level: int = 6) -> bytes:
    """Encode ``image`` as PNG bytes (no timestamps or metadata, so bytes are reproducible)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def render_png(ds: Dataset, spec: RenderSpec) -> bytes:
    """Render ``ds`` (frame 0) to PNG bytes following ``spec``."""
    # Fast path (issue 4, dicom/fast_decode.py): 8-bit data that need no LUT are decoded at
    # reduced scale; within 1 grey level of the full path below. Keep this branch first.
    if fast_path_applies(ds) and (fast := render_fast(ds, spec.size)) is not None:
        return encode_png(fast, spec.png_compress_level)
    return encode_png(resize(to_display(ds), spec.size), spec.png_compress_level)


def convert_to_png(item: tuple[str, Callable[[], Dataset]], spec: RenderSpec) -> FileResult:
    """Per-file work of the images pipeline: load, render, resize and encode one image.

    Args:
        item: ``(id, load)`` where ``load`` returns the full data set.
        spec: Rendering settings.

    Returns:
        PNG bytes as ``value``, or the reason the file was unusable as ``error``.
    """
    file_id, load = item
    try:
        return FileResult(file_id, render_png(load(), spec))
    except Exception as err:  # one bad file must not stop the others
        return failure(file_id, err)


def _has_voi(ds: Dataset) -> bool:
    return ("WindowCenter" in ds and "WindowWidth" in ds) or bool(ds.get("VOILUTSequence"))


def _display_range(ds: Dataset, values: np.ndarray) -> tuple[float, float]:
    """The range of values that maps onto black..white after the VOI step."""
    if ds.get("VOILUTSequence") and not ("WindowCenter" in ds and "WindowWidth" in ds):
        # VOI LUT output spans 0 .. 2**bits - 1, bits from (0028,3002) LUT Descriptor.
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if _has_voi(ds):
        return _window_output_range(ds)
    bits_stored = int(ds.get("BitsStored", 8))
    rescaled = "RescaleSlope" in ds or "RescaleIntercept" in ds or ds.get("ModalityLUTSequence")
    if bits_stored <= 8 and not rescaled and not int(ds.get("PixelRepresentation", 0)):
        return 0.0, float(2**bits_stored - 1)
    return float(values.min()), float(values.max())


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    # pydicom's apply_windowing maps onto this range (pydicom/pixels/processing.py):
    # the stored range, or the Modality LUT's, carried through Rescale Slope/Intercept.
    if ds.get("ModalityLUTSequence"):
        y_min, y_max = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.get("PixelRepresentation", 0)) == 0:
        y_min, y_max = 0.0, float(2 ** int(ds.BitsStored) - 1)
    else:
        y_min = -float(2 ** (int(ds.BitsStored) - 1))
        y_max = float(2 ** (int(ds.BitsStored) - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        y_min = y_min * float(slope) + float(intercept)
        y_max = y_max * float(slope) + float(intercept)
    return y_min, y_max
