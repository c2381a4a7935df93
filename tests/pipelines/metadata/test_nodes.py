"""The metadata node over a folder of good and bad files, through the real datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset

from pneumothorax.datasets.dicom_dataset import DICOMDataset
from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.dicom.deid import DeidKeyError
from pneumothorax.pipelines.images.nodes import render_images, summarise_renders
from pneumothorax.pipelines.metadata.nodes import extract_metadata
from pneumothorax.rejections import BadInputError
from tests.dicom.zoo import BAD, GOOD, build_zoo, plant_phi

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEQUENTIAL = {"backend": "sequential"}
NO_DEID = {"deid": False}


def _folder(root: Path) -> dict:
    return DicomFolderDataset(path=str(root), dataset={"type": DICOMDataset}).load()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zoo(tmp_path_factory.mktemp("zoo") / "raw")


def test_every_good_file_is_read_and_every_bad_one_listed_with_its_reason(zoo: Path) -> None:
    table, rejected, metrics = extract_metadata(_folder(zoo), NO_DEID, False, SEQUENTIAL, "")
    assert list(table["id"]) == sorted(GOOD)
    assert list(rejected.columns) == ["id", "path", "reason"]
    assert list(rejected["id"]) == sorted(BAD)
    for row in rejected.itertuples():
        assert BAD[row.id] in row.reason, row
        assert row.path.startswith(row.id)  # relative: the same bytes on every machine
    assert metrics["files_converted"]["value"] == len(GOOD)
    assert metrics["files_rejected"]["value"] == len(BAD)


def test_one_warning_per_bad_file_and_a_summary(zoo: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level("WARNING")
    extract_metadata(_folder(zoo), NO_DEID, False, SEQUENTIAL, "")
    lines = [r.getMessage() for r in caplog.records if r.name == "pneumothorax.rejections"]
    assert sum(line.startswith("metadata: rejected ") for line in lines) == len(BAD)
    assert f"metadata: {len(BAD)} file(s) rejected, {len(GOOD)} converted" in lines[-1]


def test_strict_stops_at_the_first_bad_file_naming_it(zoo: Path) -> None:
    with pytest.raises(BadInputError, match=r"metadata: bad/DICOMDIR: a DICOMDIR"):
        extract_metadata(_folder(zoo), NO_DEID, True, SEQUENTIAL, "")


def test_images_stage_writes_no_png_for_a_bad_file_and_logs_it(zoo: Path, tmp_path: Path):
    out = PartitionedDataset(
        path=str(tmp_path / "png"),
        dataset="pneumothorax.datasets.png_dataset.PngDataset",
        filename_suffix=".png",
    )
    reports = []
    for chunk, report in render_images(_folder(zoo), {"size": 16}, False, SEQUENTIAL):
        out.save(chunk)
        reports.append(report)
    log, metrics = summarise_renders(reports[-1])
    written = sorted(p.relative_to(tmp_path / "png").as_posix() for p in tmp_path.rglob("*.png"))
    assert written == [f"{g}.png" for g in sorted(GOOD)]
    assert dict(zip(log["id"], log["status"], strict=True)) == {
        **dict.fromkeys(GOOD, "converted"),
        **dict.fromkeys(BAD, "rejected"),
    }
    jpeg = log.set_index("id").loc["good/jpeg"]
    assert jpeg["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert jpeg["decoder"] in ("pylibjpeg", "pillow")
    assert jpeg["window"] == "stored range 0..255"
    assert metrics["files_rejected"]["value"] == len(BAD)


def test_same_csv_bytes_whatever_the_listing_order(zoo: Path) -> None:
    loads = _folder(zoo)
    forward = extract_metadata(loads, NO_DEID, False, SEQUENTIAL, "")
    backward = extract_metadata(dict(reversed(loads.items())), NO_DEID, False, SEQUENTIAL, "")
    for a, b in zip(forward[:2], backward[:2], strict=True):
        assert a.to_csv(index=False) == b.to_csv(index=False)


def test_values_keep_their_types_dates_are_iso_and_age_is_numeric(tmp_path: Path) -> None:
    import pydicom

    root = build_zoo(tmp_path / "raw")
    path = root / "good/plain.dcm"
    ds = pydicom.dcmread(path)
    ds.PatientAge, ds.StudyDate, ds.StudyTime = "021M", "20190131", "134500"
    ds.PixelSpacing = [0.5, 0.25]
    ds.add_new(0x00091010, "LO", "private value")
    ds.add_new(0x00090010, "LO", "ACME")
    ds.save_as(path)
    table, _rejected, _ = extract_metadata(
        _folder(root), {"deid": False, "private_tags": True}, False, SEQUENTIAL, ""
    )
    table = pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False)))
    row = table.set_index("id").loc["good/plain"]
    assert row["PatientAgeYears"] == 1.75
    assert json.loads(row["PixelSpacing"]) == [0.5, 0.25]
    assert row["Rows"] == 16 and row["StudyDate"] == "2019-01-31" and row["StudyTime"] == "13:45:00"
    assert pd.Timestamp(row["StudyDate"]).year == 2019
    assert row["0009_1010"] == "private value"
    assert "BurnedInAnnotation" in table.columns
    columns = list(table.columns)
    assert columns.index("PatientAgeYears") == columns.index("PatientAge") + 1


def test_deid_without_a_key_is_a_clear_error(zoo: Path) -> None:
    with pytest.raises(DeidKeyError, match="PNEUMOTHORAX_DEID_KEY"):
        extract_metadata(_folder(zoo), {"deid": True}, False, SEQUENTIAL, "")


def test_deid_removes_planted_identifiers_and_pseudonyms_are_keyed(tmp_path: Path) -> None:
    root = build_zoo(tmp_path / "raw")
    planted = plant_phi(root)
    first, _, _ = extract_metadata(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-1")
    again, _, _ = extract_metadata(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-1")
    other, _, _ = extract_metadata(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-2")
    text = first.to_csv(index=False)
    for value in planted.values():
        assert value not in text
    assert "1902" not in text  # the birth date is gone, not just shifted
    assert text == again.to_csv(index=False)  # same key: same pseudonyms, joins still work
    assert list(first["PatientID"]) != list(other["PatientID"])  # another key: other ones
    assert first["PatientID"].nunique() == 1  # one patient stays one patient
    assert set(first["PatientIdentityRemoved"]) == {"YES"}
    kept, _, _ = extract_metadata(
        _folder(root), {"deid": True, "date_shift": False}, False, SEQUENTIAL, "key-1"
    )
    assert set(kept["LongitudinalTemporalInformationModified"]) == {"UNMODIFIED"}
    plain, _, _ = extract_metadata(_folder(root), NO_DEID, False, SEQUENTIAL, "")
    assert set(plain["PatientID"]) == {planted["PatientID"]}
