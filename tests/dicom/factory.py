"""Build small DICOM images in memory for the tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from pneumothorax.config.params import ImageParams
from pneumothorax.dicom.render import RenderSpec


def image(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    frames: int = 1,
    **attributes: object,
) -> Dataset:
    """A Secondary Capture data set holding ``pixels`` natively (explicit VR little endian).

    ``pixels`` is ``(rows, cols)``, ``(rows, cols, 3)`` or, with ``frames`` > 1,
    ``(frames, rows, cols[, 3])``; extra keyword arguments become attributes.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["test", str(pixels.sum())])
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.PatientName = "Test^Patient"
    ds.PatientID = "TEST-1"
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    shape = pixels.shape[1:] if frames > 1 else pixels.shape
    ds.Rows, ds.Columns = int(shape[0]), int(shape[1])
    ds.SamplesPerPixel = 3 if colour and photometric != "PALETTE COLOR" else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    return ds


def roundtrip(ds: Dataset) -> Dataset:
    """Write ``ds`` as a DICOM file in memory and read it back (as the pipeline would)."""
    return pydicom.dcmread(io.BytesIO(to_bytes(ds)))


def to_bytes(ds: Dataset) -> bytes:
    """``ds`` as PS3.10 file bytes."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_bytes(ds))
    return path


def ramp(rows: int, columns: int, low: int, high: int, dtype: str = "uint16") -> np.ndarray:
    """Values evenly spread from ``low`` to ``high``, row after row."""
    return np.linspace(low, high, rows * columns).round().astype(dtype).reshape(rows, columns)


def render_spec(**overrides: object) -> RenderSpec:
    """A render spec of ``params.yaml``'s defaults (the typed model's), with ``overrides``."""
    return RenderSpec(**{**ImageParams().model_dump(), **overrides})  # type: ignore[arg-type]
