"""Tests for the metadata pipeline's nodes (``pneumothorax.pipelines.metadata.nodes``)."""

from __future__ import annotations

import pandas as pd
import pydicom
import pytest
from pydicom.datadict import tag_for_keyword

from pneumothorax.pipelines.metadata.nodes import build_table, extract_metadata

from ..conftest import SAMPLE_COUNT, Sample

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")

SEQUENTIAL = {"backend": "sequential", "workers": None}
PROCESSES = {"backend": "processes", "workers": 2}


def test_table_shape_and_order(sample: Sample) -> None:
    table, _ = extract_metadata(sample.loaders(stop_before_pixels=True), SEQUENTIAL)
    assert table.columns[0] == "id"
    assert list(table["id"]) == sorted(sample.good)
    assert len(table) == SAMPLE_COUNT
    assert table["id"].is_unique


def test_columns_in_dicom_tag_order(sample: Sample) -> None:
    table, _ = extract_metadata(sample.loaders(stop_before_pixels=True), SEQUENTIAL)
    tags = [tag_for_keyword(keyword) for keyword in table.columns[1:]]
    assert None not in tags
    assert tags == sorted(tags)
    assert len(set(tags)) == len(tags)
    for keyword in ("TransferSyntaxUID", "SOPInstanceUID", "PatientAge", "PixelSpacing", "Rows"):
        assert keyword in table.columns
    assert "PixelData" not in table.columns
    assert "FileMetaInformationVersion" not in table.columns  # OB


def test_values_match_the_files(sample: Sample) -> None:
    table, _ = extract_metadata(sample.loaders(stop_before_pixels=True), SEQUENTIAL)
    by_id = table.set_index("id")
    for file_id, path in sample.good.items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        row = by_id.loc[file_id]
        assert row["SOPInstanceUID"] == ds.SOPInstanceUID
        assert row["PatientID"] == ds.PatientID
        assert row["PatientName"] == str(ds.PatientName)
        assert row["PatientAge"] == ds.PatientAge  # SIIM's bare number, kept as text
        assert row["Rows"] == 64
        assert row["TransferSyntaxUID"] == ds.file_meta.TransferSyntaxUID
        # 0.168 mm * 1024 / 64 = 2.688 mm
        assert row["PixelSpacing"] == "[2.688, 2.688]"
        assert pd.isna(row["StudyID"])  # empty in every generated file


def test_bad_file_skipped_and_counted(sample: Sample) -> None:
    table, metrics = extract_metadata(sample.loaders(stop_before_pixels=True), SEQUENTIAL)
    assert "zz-bad/notes" not in set(table["id"])
    assert metrics["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}
    assert metrics["files_rejected"] == {"value": 1.0, "step": 0}
    assert set(metrics) == {"files_converted", "files_rejected", "seconds", "files_per_second"}
    assert all(entry["step"] == 0 for entry in metrics.values())
    assert metrics["seconds"]["value"] >= 0


def test_bad_file_is_logged(sample: Sample, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="pneumothorax.pipelines.metadata.nodes"):
        extract_metadata(sample.loaders(stop_before_pixels=True), SEQUENTIAL)
    assert any(
        str(sample.bad) in record.getMessage() and "not a DICOM file" in record.getMessage()
        for record in caplog.records
    )


def test_sequential_and_processes_give_identical_tables(sample: Sample) -> None:
    loaders = sample.loaders(stop_before_pixels=True)
    sequential, _ = extract_metadata(loaders, SEQUENTIAL)
    processes, metrics = extract_metadata(loaders, PROCESSES)
    pd.testing.assert_frame_equal(sequential, processes)
    assert metrics["files_rejected"]["value"] == 1.0


def test_input_order_does_not_matter(sample: Sample) -> None:
    loaders = sample.loaders(stop_before_pixels=True)
    forward, _ = extract_metadata(loaders, SEQUENTIAL)
    backward, _ = extract_metadata(dict(reversed(list(loaders.items()))), SEQUENTIAL)
    pd.testing.assert_frame_equal(forward, backward)


def test_build_table_hand_made_rows() -> None:
    rows = [
        {"id": "b", "Rows": 2, "PatientName": "B"},
        {"id": "a", "Modality": "CR", "Rows": 1},
    ]
    table = build_table(rows)
    # (0008,0060) Modality < (0010,0010) PatientName < (0028,0010) Rows
    assert list(table.columns) == ["id", "Modality", "PatientName", "Rows"]
    assert list(table["id"]) == ["a", "b"]
    assert table.loc[0, "Modality"] == "CR"
    assert pd.isna(table.loc[0, "PatientName"])
    assert pd.isna(table.loc[1, "Modality"])


def test_build_table_without_rows() -> None:
    table = build_table([])
    assert list(table.columns) == ["id"]
    assert len(table) == 0
