"""Tests for recognising DICOM streams by content (``pneumothorax.dicom.sniff``)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pneumothorax.dicom.sniff import SNIFF_BYTES, has_preamble, looks_like_dicom
from tests.dicom.factory import image, to_bytes


def _part10_bytes(transfer_syntax: str) -> bytes:
    """A PS3.10 file (128-byte preamble, b"DICM", File Meta, data set) written by pydicom."""
    ds = image(np.zeros((2, 2), dtype=np.uint8))
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return to_bytes(ds)


def _implicit_stream_without_meta() -> bytes:
    """An old ACR-NEMA-style stream: implicit VR LE data set, no preamble, no File Meta."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"  # (0008,0005), the first element written
    ds.PatientID = "P1"
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((200, 200), dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# Hand-written implicit VR little endian element: tag (0008,0005), 4-byte length 10, value.
_RAW_IMPLICIT_0008 = struct.pack("<HHI", 0x0008, 0x0005, 10) + b"ISO_IR 100"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(_part10_bytes(ExplicitVRLittleEndian), True, id="preamble-dicm"),
        pytest.param(_part10_bytes(ExplicitVRLittleEndian)[132:], True, id="bare-explicit-meta"),
        pytest.param(_part10_bytes(ImplicitVRLittleEndian)[132:], True, id="bare-meta-implicit-ts"),
        pytest.param(_implicit_stream_without_meta(), True, id="pydicom-implicit-0008"),
        pytest.param(_RAW_IMPLICIT_0008, True, id="raw-implicit-0008"),
        pytest.param(_png_bytes(), False, id="png"),
        pytest.param(b"", False, id="empty"),
        pytest.param(b"\x02\x00\x00\x00UL", False, id="shorter-than-an-element-header"),
        pytest.param(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit." * 4, False,
                     id="text"),
        pytest.param(b"\xff" * 128 + b"DICX" + b"\x00" * 16, False, id="preamble-wrong-prefix"),
        # Group 0008 but an implicit length far too large for a first header element.
        pytest.param(struct.pack("<HHI", 0x0008, 0x0005, 0x7FFFFFFF), False, id="huge-length"),
    ],
)  # fmt: skip
def test_looks_like_dicom(head: bytes, expected: bool) -> None:
    assert looks_like_dicom(head[:SNIFF_BYTES]) is expected


def test_bare_stream_starts_with_group_0002_after_stripping(tmp_path: Path) -> None:
    # The stripped file really starts with (0002,0000) UL, the case the sniffer must accept.
    path = tmp_path / "bare.dcm"
    path.write_bytes(_part10_bytes(ExplicitVRLittleEndian)[132:])
    head = path.read_bytes()[:SNIFF_BYTES]
    assert head[:6] == b"\x02\x00\x00\x00UL"
    assert looks_like_dicom(head)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00" * 128 + b"DICM", True),
        (b"\xff" * 128 + b"DICM" + b"rest", True),
        (b"DICM" + b"\x00" * 128, False),
        (b"\x00" * 131, False),
    ],
)
def test_has_preamble(head: bytes, expected: bool) -> None:
    assert has_preamble(head) is expected
