"""Tests for the metadata pipeline's nodes (``pneumothorax.pipelines.metadata.nodes``).

The zoo (tests/dicom/zoo.py) holds good and bad files read through the real datasets; the
``sample`` fixture (tests/pipelines/conftest.py) is a generated SIIM-like folder.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image
from pydicom.datadict import tag_for_keyword

from pneumothorax.config.params import ImageParams, MetadataParams
from pneumothorax.datasets.dicom_dataset import DICOMDataset
from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.dicom.deid import DeidKeyError
from pneumothorax.pipelines.images.nodes import render_images, summarise_renders
from pneumothorax.pipelines.metadata.nodes import build_table, extract_metadata
from pneumothorax.runtime.compact_rows import CompactRows
from pneumothorax.runtime.rejections import BadInputError
from tests.dicom.zoo import BAD, GOOD, build_zoo, plant_phi

from ..conftest import BAD_ID, SAMPLE_COUNT, Sample, file_mapper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEQUENTIAL = {"backend": "sequential"}
PROCESSES = {"backend": "processes", "workers": 2}
NO_DEID = {"deid": False}
NO_CACHE = {"enabled": False}  # the cache: tests/runtime/test_incremental.py


def _images_log(loads: dict) -> pd.DataFrame:
    """The images stage's real log of ``loads``, as the catalog reads it back from CSV."""
    image = ImageParams(size=(16, 16))
    *_, (_chunk, report) = render_images(loads, image, file_mapper(SEQUENTIAL, NO_CACHE))
    log, _metrics, _histogram = summarise_renders(report)
    text = log.to_csv(index=False, lineterminator="\n")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _metadata(files: dict, log: pd.DataFrame, metadata, strict, executor, key, incremental):
    """extract_metadata with the runtime the hook builds from ``strict``, ``executor``,
    ``incremental``."""
    typed = MetadataParams.from_mapping(metadata)  # as Kedro's typed parameters give it
    return extract_metadata(files, log, typed, key, file_mapper(executor, incremental, strict))


def _extract(loads: dict, *args):
    """extract_metadata after the images stage, on the files that stage saw."""
    return _metadata(loads, _images_log(loads), *args)


def _folder(root: Path) -> dict:
    # The zoo keeps good and bad files in two folders and names them by folder ("bad/empty"):
    # path ids. The catalog's name ids are covered by tests/datasets and tests/e2e.
    return DicomFolderDataset(path=str(root), dataset={"type": DICOMDataset}, ids="path").load()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zoo(tmp_path_factory.mktemp("zoo") / "raw")


def test_every_good_file_is_read_and_every_bad_one_listed_with_its_reason(zoo: Path) -> None:
    table, rejected, metrics = _extract(_folder(zoo), NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    assert list(table["id"]) == sorted(GOOD)
    assert list(rejected.columns) == ["id", "path", "reason"]
    assert list(rejected["id"]) == sorted(BAD)
    for row in rejected.itertuples():
        assert BAD[row.id] in row.reason, row
        assert row.path.startswith(row.id)  # relative: the same bytes on every machine
    assert metrics["files_converted"]["value"] == len(GOOD)
    assert metrics["files_rejected"]["value"] == len(BAD)


def test_one_warning_per_bad_file_over_both_stages_and_a_summary(
    zoo: Path, caplog: pytest.LogCaptureFixture
):
    # The images stage announces each bad file; the metadata stage, taking its verdicts,
    # only counts them (its per-file lines are at debug level): one line per file per run.
    caplog.set_level("WARNING")
    _extract(_folder(zoo), NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    lines = [r.getMessage() for r in caplog.records if r.name == "pneumothorax.runtime.rejections"]
    for bad in BAD:
        assert sum(line.startswith(f"images: rejected {bad}") for line in lines) == 1, bad
    assert not any(line.startswith("metadata: rejected ") for line in lines)
    assert f"metadata: {len(BAD)} file(s) rejected, {len(GOOD)} converted" in lines[-1]


def test_strict_stops_at_the_first_bad_file_naming_it(zoo: Path) -> None:
    with pytest.raises(BadInputError, match=r"metadata: bad/DICOMDIR: a DICOMDIR"):
        _extract(_folder(zoo), NO_DEID, True, SEQUENTIAL, "", NO_CACHE)


def test_images_stage_writes_no_png_for_a_bad_file_and_logs_it(zoo: Path, tmp_path: Path):
    out = PartitionedDataset(
        path=str(tmp_path / "png"),
        dataset="pneumothorax.datasets.png_dataset.PngDataset",
        filename_suffix=".png",
    )
    reports = []
    for chunk, report in render_images(_folder(zoo), ImageParams(size=(16, 16)), file_mapper()):
        out.save(chunk)
        reports.append(report)
    log, metrics, histogram = summarise_renders(reports[-1])
    written = sorted(p.relative_to(tmp_path / "png").as_posix() for p in tmp_path.rglob("*.png"))
    assert written == [f"{g}.png" for g in sorted(GOOD)]
    # The histogram counted while rendering is that of the PNGs read back from disk.
    assert histogram["pixels"].tolist() == _grey_levels_of(tmp_path.rglob("*.png")).tolist()
    assert dict(zip(log["id"], log["status"], strict=True)) == {
        **dict.fromkeys(GOOD, "converted"),
        **dict.fromkeys(BAD, "rejected"),
    }
    jpeg = log.set_index("id").loc["good/jpeg"]
    assert jpeg["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert jpeg["decoder"] == "fast-path (pillow)"  # 8-bit MONOCHROME2 JPEG Baseline
    assert jpeg["window"] == "stored range 0..255"
    assert metrics["files_rejected"]["value"] == len(BAD)


def test_same_csv_bytes_whatever_the_listing_order(zoo: Path) -> None:
    loads = _folder(zoo)
    forward = _extract(loads, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    backward = _extract(dict(reversed(loads.items())), NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
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
    table, _rejected, _ = _extract(
        _folder(root), {"deid": False, "private_tags": True}, False, SEQUENTIAL, "", NO_CACHE
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
        _extract(_folder(zoo), {"deid": True}, False, SEQUENTIAL, "", NO_CACHE)


def test_the_public_sample_key_is_refused_for_files_that_are_not_the_sample(zoo: Path) -> None:
    # The key is chosen from raw.folder; the catalog's raw dataset may read elsewhere.
    from pneumothorax.raw.bundled_sample import SAMPLE_KEY

    with pytest.raises(DeidKeyError, match="not the bundled sample") as raised:
        _extract(_folder(zoo), {"deid": True}, False, SEQUENTIAL, SAMPLE_KEY, NO_CACHE)
    assert not any(name in str(raised.value) for name in _folder(zoo))  # no id echoed
    # Without de-identification no key is used, so nothing to refuse.
    table, _, _ = _extract(_folder(zoo), NO_DEID, False, SEQUENTIAL, SAMPLE_KEY, NO_CACHE)
    assert len(table) == len(GOOD)


def test_reading_options_of_the_catalog_miss_the_cache(zoo: Path, tmp_path: Path) -> None:
    # catalog.yml's load_args change what a load returns; a cached run must equal a fresh one.
    cache = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    full = _folder(zoo)
    log = _images_log(full)
    first, _, _ = _metadata(full, log, NO_DEID, False, SEQUENTIAL, "", cache)
    narrow = DicomFolderDataset(
        path=str(zoo),
        dataset={"type": DICOMDataset, "load_args": {"specific_tags": ["Modality"]}},
        ids="path",
    ).load()
    cached, _, _ = _metadata(narrow, log, NO_DEID, False, SEQUENTIAL, "", cache)
    fresh, _, _ = _metadata(narrow, log, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    assert len(fresh.columns) < len(first.columns)  # the option does change the rows
    pd.testing.assert_frame_equal(cached, fresh)


def test_deid_removes_planted_identifiers_and_pseudonyms_are_keyed(tmp_path: Path) -> None:
    root = build_zoo(tmp_path / "raw")
    planted = plant_phi(root)
    first, _, _ = _extract(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-1", NO_CACHE)
    again, _, _ = _extract(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-1", NO_CACHE)
    other, _, _ = _extract(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-2", NO_CACHE)
    text = first.to_csv(index=False)
    for value in planted.values():
        assert value not in text
    assert "1902" not in text  # the birth date is gone, not just shifted
    assert text == again.to_csv(index=False)  # same key: same pseudonyms, joins still work
    assert list(first["PatientID"]) != list(other["PatientID"])  # another key: other ones
    assert first["PatientID"].nunique() == 1  # one patient stays one patient
    assert set(first["PatientIdentityRemoved"]) == {"YES"}
    kept, _, _ = _extract(
        _folder(root), {"deid": True, "date_shift": False}, False, SEQUENTIAL, "key-1", NO_CACHE
    )
    assert set(kept["LongitudinalTemporalInformationModified"]) == {"UNMODIFIED"}
    plain, _, _ = _extract(_folder(root), NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    assert set(plain["PatientID"]) == {planted["PatientID"]}


# ---- the generated SIIM-like sample ----------------------------------------------------------


def _sample_table(sample: Sample, executor: dict = SEQUENTIAL) -> tuple[pd.DataFrame, dict]:
    table, _rejected, metrics = _extract(sample.files(), NO_DEID, False, executor, "", NO_CACHE)
    return table, metrics


def test_table_shape_and_order(sample: Sample) -> None:
    table, _ = _sample_table(sample)
    assert table.columns[0] == "id"
    assert list(table["id"]) == sorted(sample.good)
    assert len(table) == SAMPLE_COUNT
    assert table["id"].is_unique


def test_columns_in_dicom_tag_order(sample: Sample) -> None:
    table, _ = _sample_table(sample)
    columns = list(table.columns[1:])
    # Derived columns: PatientAgeYears right after PatientAge, render_* (no tag) last.
    assert columns[-2:] == ["render_decoder", "render_window"]
    columns.remove("PatientAgeYears")
    tags = [tag_for_keyword(keyword) for keyword in columns[:-2]]
    assert None not in tags
    assert tags == sorted(tags)
    assert len(set(tags)) == len(tags)
    for keyword in ("TransferSyntaxUID", "SOPInstanceUID", "PatientAge", "PixelSpacing", "Rows"):
        assert keyword in table.columns
    assert "PixelData" not in table.columns
    assert set(table["FileMetaInformationVersion"]) == {"0001"}  # OB b"\x00\x01", as hex


def test_values_match_the_files(sample: Sample) -> None:
    table, _ = _sample_table(sample)
    by_id = table.set_index("id")
    for file_id, path in sample.good.items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        row = by_id.loc[file_id]
        assert row["SOPInstanceUID"] == ds.SOPInstanceUID
        assert row["PatientID"] == ds.PatientID
        assert row["PatientName"] == str(ds.PatientName)
        assert row["PatientAge"] == ds.PatientAge  # SIIM's bare number, kept as text
        assert row["PatientAgeYears"] == int(ds.PatientAge)  # a bare number is years
        assert row["Rows"] == 64
        assert row["TransferSyntaxUID"] == ds.file_meta.TransferSyntaxUID
        # 0.168 mm * 1024 / 64 = 2.688 mm
        assert row["PixelSpacing"] == "[2.688, 2.688]"
        assert pd.isna(row["StudyID"])  # empty in every generated file
        # 8-bit MONOCHROME2 without VOI attributes: the stored values are shown as they are.
        assert row["render_window"] == "stored range 0..255"


def test_bad_file_skipped_counted_and_logged(
    sample: Sample, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="pneumothorax.runtime.rejections"):
        table, metrics = _sample_table(sample)
    assert BAD_ID not in set(table["id"])
    assert metrics["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}
    assert metrics["files_rejected"] == {"value": 1.0, "step": 0}
    assert set(metrics) == {"files_converted", "files_rejected", "seconds", "files_per_second"}
    assert all(entry["step"] == 0 for entry in metrics.values())
    assert metrics["seconds"]["value"] >= 0
    assert any(
        f"{BAD_ID}.dcm" in record.getMessage() and "not a DICOM file" in record.getMessage()
        for record in caplog.records
    )


def test_sequential_and_processes_give_identical_tables(sample: Sample) -> None:
    sequential, _ = _sample_table(sample, SEQUENTIAL)
    processes, metrics = _sample_table(sample, PROCESSES)
    pd.testing.assert_frame_equal(sequential, processes)
    assert metrics["files_rejected"]["value"] == 1.0


def _table(*rows: dict[str, object]) -> pd.DataFrame:
    store = CompactRows()
    for row in rows:
        store.add(row)
    return build_table(store)


def test_table_of_hand_made_rows() -> None:
    table = _table(
        {"id": "b", "Rows": 2, "PatientName": "B"},
        {"id": "a", "Modality": "CR", "Rows": 1},
    )
    # (0008,0060) Modality < (0010,0010) PatientName < (0028,0010) Rows
    assert list(table.columns) == ["id", "Modality", "PatientName", "Rows"]
    assert list(table["id"]) == ["a", "b"]
    assert table.loc[0, "Modality"] == "CR"
    assert pd.isna(table.loc[0, "PatientName"])
    assert pd.isna(table.loc[1, "Modality"])
    assert list(table["Rows"]) == [1, 2]
    assert table["Rows"].dtype == "int64"


def test_table_without_rows() -> None:
    table = build_table(CompactRows())
    assert list(table.columns) == ["id"]
    assert len(table) == 0


def _grey_levels_of(paths) -> np.ndarray:
    counts = np.zeros(256, dtype=np.int64)
    for path in paths:
        with Image.open(path) as image:
            np.add.at(counts, np.asarray(image.convert("L")).ravel(), 1)
    return counts


def _header_folder(root: Path) -> dict:
    # As the catalog's dicom_headers: the same files, read without their pixels.
    dataset = {"type": DICOMDataset, "load_args": {"stop_before_pixels": True}}
    return DicomFolderDataset(path=str(root), dataset=dataset, ids="path").load()


def test_headers_alone_give_the_same_table_and_rejections(zoo: Path) -> None:
    log = _images_log(_folder(zoo))
    full = _metadata(_folder(zoo), log, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    headers = _metadata(_header_folder(zoo), log, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    assert headers[0].equals(full[0])
    assert headers[1].equals(full[1])
    # ... and those loaders really stop before the pixels.
    loads = _header_folder(zoo)
    assert not any("PixelData" in loads[name].load() for name in GOOD)


def test_render_columns_come_from_the_images_log(zoo: Path) -> None:
    loads = _folder(zoo)
    log = _images_log(loads)
    table, _rejected, _metrics = _metadata(loads, log, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    converted = log[log["status"] == "converted"].set_index("id")
    rendered = table.set_index("id")
    assert rendered["render_window"].to_dict() == converted["window"].to_dict()
    assert rendered["render_decoder"].to_dict() == converted["decoder"].to_dict()


def test_a_log_of_other_files_is_a_clear_error(zoo: Path) -> None:
    loads = _folder(zoo)
    log = _images_log(loads)
    with pytest.raises(BadInputError, match=r"1 file\(s\) missing from it, 0 listed but not"):
        _metadata(loads, log.iloc[1:], NO_DEID, False, SEQUENTIAL, "", NO_CACHE)
    fewer = {name: load for name, load in loads.items() if name != log["id"].iloc[0]}
    with pytest.raises(BadInputError, match=r"0 file\(s\) missing from it, 1 listed but not"):
        _metadata(fewer, log, NO_DEID, False, SEQUENTIAL, "", NO_CACHE)


def test_a_converted_file_whose_header_fails_keeps_its_row_and_no_value_is_echoed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = build_zoo(tmp_path / "raw")
    loads = {k: v for k, v in _folder(root).items() if k.startswith("good/")}
    log = _images_log(loads)
    secret = "1999-12-31-SECRET"

    def failing() -> pydicom.Dataset:
        raise ValueError(f"time data '{secret}' does not match format '%Y%m%d'")

    # Converted by images, unreadable here.
    broken = {**loads, "good/plain": dataclasses.replace(loads["good/plain"], load=failing)}
    with caplog.at_level("WARNING"):
        table, rejected, metrics = _metadata(broken, log, None, False, SEQUENTIAL, "key", NO_CACHE)
    assert sorted(table["id"]) == sorted(loads)  # every converted file has its row
    assert rejected.empty
    row = table.set_index("id").loc["good/plain"]
    assert row.drop(["render_window", "render_decoder"]).isna().all()
    assert metrics["files_rejected"]["value"] == 0
    assert "good/plain" in caplog.text and "header unusable" in caplog.text
    assert secret not in caplog.text
    with pytest.raises(BadInputError, match=r"good/plain.*header unusable") as error:
        _metadata(broken, log, None, True, SEQUENTIAL, "key", NO_CACHE)
    assert secret not in str(error.value)


def test_unparseable_dates_are_dropped_before_deid_and_the_row_kept(tmp_path: Path) -> None:
    from pydicom import config

    root = build_zoo(tmp_path / "raw")
    path = root / "good/plain.dcm"
    ds = pydicom.dcmread(path)
    with config.disable_value_validation():
        ds.StudyDate, ds.StudyTime, ds.PatientSex = "2023-01-01", "25:99", "F"
    ds.save_as(path)
    loads = {k: v for k, v in _folder(root).items() if k.startswith("good/")}
    table, rejected, _ = _extract(loads, None, False, SEQUENTIAL, "key", NO_CACHE)
    assert rejected.empty and "good/plain" in set(table["id"])
    row = table.set_index("id").loc["good/plain"]
    assert pd.isna(row.get("StudyDate")) and pd.isna(row.get("StudyTime"))
    assert row["PatientSex"] == "F"
    assert "2023" not in table.to_csv(index=False)


def test_rows_read_without_deid_never_reach_the_cache(tmp_path: Path) -> None:
    # The cache keeps every generation's results: raw rows written by a `deid: false` run
    # would stay in .cache/ through every later de-identified run.
    root = build_zoo(tmp_path / "raw")
    planted = plant_phi(root)
    cache = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    plain, _, _ = _extract(_folder(root), NO_DEID, False, SEQUENTIAL, "", cache)
    assert set(plain["PatientID"]) == {planted["PatientID"]}
    again, _, _ = _extract(_folder(root), NO_DEID, False, SEQUENTIAL, "", cache)
    assert again.equals(plain)
    _extract(_folder(root), {"deid": True}, False, SEQUENTIAL, "key-1", cache)
    files = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    stored = b"".join(path.read_bytes() for path in files).decode("latin-1")
    assert files
    assert not [value for value in planted.values() if value in stored]
