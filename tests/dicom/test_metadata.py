"""Tests for flattening DICOM headers into CSV rows (``pneumothorax.dicom.metadata``)."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset, config

from pneumothorax.dicom.deid import make_deidentifier
from pneumothorax.dicom.metadata import (
    MetadataOptions,
    column_order,
    flatten_header,
    read_metadata_row,
)
from tests.dicom.factory import image, to_bytes, write

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@pytest.fixture
def header(tmp_path: Path) -> pydicom.FileDataset:
    """A header written to disk and read back, so values have pydicom's on-read types."""
    item = Dataset()
    item.ReferencedSOPClassUID = SECONDARY_CAPTURE
    item.ReferencedSOPInstanceUID = "1.2.3.5"
    ds = image(
        np.arange(4, dtype=np.uint8).reshape(2, 2),
        SOPInstanceUID="1.2.3.4",
        Modality="CR",
        PatientName="Doe^Jane",
        PatientID="SYN-000001",
        StudyID="",  # empty (type 2) text element
        SeriesNumber="7",  # IS
        PixelSpacing=["0.168", "0.168"],  # DS, VM 2
        SliceThickness="2.5",  # DS, VM 1
        ImageType=["ORIGINAL", "PRIMARY"],  # CS, VM 2
        ReferencedImageSequence=[item],
    )
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.add_new(0x00200013, "IS", "")  # InstanceNumber, empty number
    ds.add_new(0x00090010, "LO", "ACME 1.0")  # private creator
    ds.add_new(0x00091001, "LO", "secret")  # private element
    ds.add_new(0x00420011, "OB", b"%PDF-1.4")  # Encapsulated Document: bulk OB
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 4)  # Overlay Data: bulk OW
    return pydicom.dcmread(write(ds, tmp_path / "header.dcm"))


def test_private_tags_are_dropped(header: pydicom.FileDataset) -> None:
    row = flatten_header(header)
    assert "secret" not in row.values()
    assert "ACME 1.0" not in row.values()
    assert not any(key.startswith("(0009") for key in row)


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("PixelData", 0x7FE00010),  # OB here (8 bits allocated)
        ("OverlayData", 0x60003000),  # OW
    ],
)
def test_bulk_values_are_dropped(header: pydicom.FileDataset, keyword: str, tag: int) -> None:
    assert tag in header
    assert keyword not in flatten_header(header)


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("EncapsulatedDocument", "255044462d312e34"),  # b"%PDF-1.4", byte by byte
        ("FileMetaInformationVersion", "0001"),  # b"\x00\x01", in the File Meta
    ],
)
def test_short_binary_values_become_hex(
    header: pydicom.FileDataset, keyword: str, expected: str
) -> None:
    assert flatten_header(header)[keyword] == expected


@pytest.mark.parametrize(("size", "kept"), [(1024, True), (1026, False)])
def test_long_binary_values_are_dropped(header: pydicom.FileDataset, size: int, kept: bool) -> None:
    # Binary values over 1024 bytes are bulk data (icons, LUTs, blobs), not metadata.
    header.EncapsulatedDocument = b"\xab" * size
    row = flatten_header(header)
    assert ("EncapsulatedDocument" in row) is kept
    if kept:
        assert row["EncapsulatedDocument"] == "ab" * size


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("TransferSyntaxUID", "1.2.840.10008.1.2.1"),
        ("MediaStorageSOPInstanceUID", "1.2.3.4"),
        ("SOPInstanceUID", "1.2.3.4"),
        ("Modality", "CR"),
        ("PatientID", "SYN-000001"),
        ("Rows", 2),
        ("PixelRepresentation", 0),
    ],
)
def test_public_values(header: pydicom.FileDataset, keyword: str, expected: object) -> None:
    value = flatten_header(header)[keyword]
    assert value == expected
    assert isinstance(value, type(expected))


def test_ds_becomes_float_and_is_int(header: pydicom.FileDataset) -> None:
    row = flatten_header(header)
    assert row["SliceThickness"] == 2.5
    assert type(row["SliceThickness"]) is float
    assert row["SeriesNumber"] == 7
    assert type(row["SeriesNumber"]) is int


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("PixelSpacing", "[0.168, 0.168]"),
        ("ImageType", '["ORIGINAL", "PRIMARY"]'),
    ],
)
def test_multi_valued_becomes_json_text(
    header: pydicom.FileDataset, keyword: str, expected: str
) -> None:
    assert flatten_header(header)[keyword] == expected


def test_person_name_becomes_str(header: pydicom.FileDataset) -> None:
    value = flatten_header(header)["PatientName"]
    assert value == "Doe^Jane"
    assert type(value) is str


def test_sequence_becomes_dicom_json(header: pydicom.FileDataset) -> None:
    # PS3.18 F.2: one object per item, keyed by 8-hex-digit tags, with "vr" and "Value".
    expected = [
        {
            "00081150": {"vr": "UI", "Value": [SECONDARY_CAPTURE]},
            "00081155": {"vr": "UI", "Value": ["1.2.3.5"]},
        }
    ]
    cell = flatten_header(header)["ReferencedImageSequence"]
    assert isinstance(cell, str)
    assert json.loads(cell) == expected


@pytest.mark.parametrize("keyword", ["StudyID", "InstanceNumber"])
def test_empty_values_become_none(header: pydicom.FileDataset, keyword: str) -> None:
    row = flatten_header(header)
    assert keyword in row
    assert row[keyword] is None


def test_row_is_in_tag_order(header: pydicom.FileDataset) -> None:
    keys = list(flatten_header(header))
    # Hand-picked keywords and their tags (PS3.6): the row must list them in this order.
    expected = [
        "TransferSyntaxUID",  # (0002,0010)
        "ImageType",  # (0008,0008)
        "SOPInstanceUID",  # (0008,0018)
        "Modality",  # (0008,0060)
        "ReferencedImageSequence",  # (0008,1140)
        "PatientName",  # (0010,0010)
        "SliceThickness",  # (0018,0050)
        "SeriesNumber",  # (0020,0011)
        "Rows",  # (0028,0010)
        "PixelSpacing",  # (0028,0030)
    ]
    assert [key for key in keys if key in expected] == expected


def test_dataset_without_file_meta() -> None:
    ds = Dataset()
    ds.PatientID = "P"
    # The two derived columns are always there (empty: no age, no burned-in flag).
    assert flatten_header(ds) == {
        "PatientID": "P",
        "PatientAgeYears": None,
        "BurnedInAnnotation": None,
    }


ROWS_IN_ANY_ORDER = [
    {"id": "b", "Rows": 2, "PatientName": "X"},
    {"id": "a", "Modality": "CR", "TransferSyntaxUID": "1.2"},
    {"id": "c", "SOPInstanceUID": "1.2.3", "PixelSpacing": "[1.0, 1.0]"},
]
# (0002,0010) TransferSyntaxUID < (0008,0018) SOPInstanceUID < (0008,0060) Modality
# < (0010,0010) PatientName < (0028,0010) Rows < (0028,0030) PixelSpacing
EXPECTED_ORDER = [
    "TransferSyntaxUID",
    "SOPInstanceUID",
    "Modality",
    "PatientName",
    "Rows",
    "PixelSpacing",
]


@pytest.mark.parametrize(
    "rows",
    [ROWS_IN_ANY_ORDER, ROWS_IN_ANY_ORDER[::-1], ROWS_IN_ANY_ORDER[1:] + ROWS_IN_ANY_ORDER[:1]],
    ids=["given", "reversed", "rotated"],
)
def test_column_order_is_tag_order_for_any_row_order(rows: list[dict[str, object]]) -> None:
    assert column_order(rows) == EXPECTED_ORDER


def test_column_order_puts_unknown_keywords_last_sorted() -> None:
    rows = [{"id": "a", "zeta": 1, "Rows": 1, "alpha": 2}]
    assert column_order(rows) == ["Rows", "alpha", "zeta"]


def test_column_order_of_no_rows() -> None:
    assert column_order([]) == []


def test_read_metadata_row_success(header: pydicom.FileDataset) -> None:
    # The header holds (60xx,3000) Overlay Data: a repeating group, dropped as bulk data.
    result = read_metadata_row(("study/series/img", lambda: header), MetadataOptions())
    assert result.ok
    assert "OverlayData" not in result.value
    assert result.id == "study/series/img"
    assert result.value["PatientID"] == "SYN-000001"


def test_read_metadata_row_loader_raises_without_quoting_its_message() -> None:
    def load() -> Dataset:
        raise ValueError("cannot parse 'Doe^Jane'\nsecond line")

    result = read_metadata_row(("1.2.3/4.5.6/7.8.9", load), MetadataOptions())
    assert not result.ok
    assert result.value is None
    assert result.error == (
        "1.2.3/4.5.6/7.8.9: unexpected ValueError (its message is not shown: it may quote a "
        "header value)"
    )


def test_de_identified_reading_logs_and_warns_no_header_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Values pydicom finds invalid are quoted in its warnings and log records
    # ("Invalid value for VR DA: '...'"): with de-identification on, none may be emitted.

    ds = image(np.zeros((4, 4), dtype="uint8"))
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        ds.add_new(0x00080020, "DA", "QXSTUDYDATEQ")  # Study Date that is not a date
        ds.add_new(0x0020000D, "UI", "1.2.QXSTUDYUIDQ")  # pydicom warns on reading this one
        ds.add_new(0x00080090, "PN", "Doe^Jane")
        data = to_bytes(ds)
    finally:
        config.settings.writing_validation_mode = old
    options = MetadataOptions(deidentifier=make_deidentifier("key", True))
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # writing the test file warned about its own invalid date
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read_metadata_row(("x", lambda: pydicom.dcmread(io.BytesIO(data))), options)
    assert result.ok and "StudyDate" not in result.value
    said = caplog.text + " ".join(str(w.message) for w in caught)
    assert "QXSTUDYDATEQ" not in said and "QXSTUDYUIDQ" not in said
    assert "Doe^Jane" not in said + json.dumps(result.value)
