"""Fixtures writing small DICOM files for the ``pneumothorax.datasets`` tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.dicom.factory import image, write

DicomWriter = Callable[..., Path]


def write_dicom(path: Path, patient_id: str = "SYN-000001") -> Path:
    """Write a 2x2 8-bit MONOCHROME2 PS3.10 file (preamble + DICM) to ``path``."""
    pixels = np.array([[0, 64], [128, 255]], dtype=np.uint8)
    ds = image(pixels, Modality="CR", PatientName="Doe^Jane", PatientID=patient_id)
    return write(ds, path)


@pytest.fixture
def dicom_writer() -> DicomWriter:
    """The :func:`write_dicom` function."""
    return write_dicom
