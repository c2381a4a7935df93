"""Tests for ``pneumothorax.datasets.dicom_dataset.DICOMDataset``."""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from pneumothorax.datasets.dicom_dataset import DICOMDataset

from .conftest import DicomWriter


def test_loads_a_file_written_by_pydicom(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    path = dicom_writer(tmp_path / "a.dcm")
    ds = DICOMDataset(filepath=str(path)).load()
    assert isinstance(ds, pydicom.FileDataset)
    assert ds.PatientID == "SYN-000001"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    np.testing.assert_array_equal(ds.pixel_array, [[0, 64], [128, 255]])


def test_stop_before_pixels(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    path = dicom_writer(tmp_path / "a.dcm")
    ds = DICOMDataset(filepath=str(path), load_args={"stop_before_pixels": True}).load()
    assert "PixelData" not in ds
    assert ds.PatientID == "SYN-000001"
    assert ds.Rows == 2


def test_loads_file_without_suffix(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    path = dicom_writer(tmp_path / "IM00001")
    assert DICOMDataset(filepath=str(path)).load().PatientID == "SYN-000001"


def test_loads_file_without_preamble_and_prefix(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    source = dicom_writer(tmp_path / "full.dcm")
    raw = source.read_bytes()
    assert raw[128:132] == b"DICM"
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(raw[132:])
    ds = DICOMDataset(filepath=str(bare)).load()
    assert ds.PatientID == "SYN-000001"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    np.testing.assert_array_equal(ds.pixel_array, [[0, 64], [128, 255]])


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _truncated_in_group_length(dicom: bytes) -> bytes:
    # 128 + "DICM" + (0002,0000) "UL" + 2-byte length = 140; cut inside its 4-byte value.
    return dicom[:141]


@pytest.mark.parametrize(
    ("make_content", "reason"),
    [
        pytest.param(lambda dicom: b"", "empty file", id="empty"),
        pytest.param(lambda dicom: _png_bytes(), "not a DICOM file", id="png-renamed"),
        pytest.param(lambda dicom: b"patient notes, not an image\n" * 10, "not a DICOM file",
                     id="text"),
        pytest.param(_truncated_in_group_length, "cannot parse DICOM header", id="truncated-meta"),
    ],
)  # fmt: skip
def test_unusable_file_raises_naming_path_and_reason(
    tmp_path: Path, dicom_writer: DicomWriter, make_content, reason: str
) -> None:
    dicom = dicom_writer(tmp_path / "source.dcm").read_bytes()
    path = tmp_path / "bad" / "1.2.3.dcm"
    path.parent.mkdir()
    path.write_bytes(make_content(dicom))
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: {reason}"):
        DICOMDataset(filepath=str(path)).load()


@pytest.mark.parametrize(
    "make_content",
    [
        # Cut in the middle of the PatientName value: "Doe^Jane" becomes "Doe^".
        pytest.param(lambda dicom: dicom[: dicom.index(b"Doe^Jane") + 4],
                     id="truncated-in-value"),
        # File Meta complete, data set cut after 4 bytes of its first element header.
        pytest.param(lambda dicom: dicom[: dicom.index(b"\x08\x00\x16\x00") + 4],
                     id="truncated-after-meta"),
        pytest.param(lambda dicom: b"\x00" * len(dicom), id="zero-filled"),
    ],
)  # fmt: skip
def test_incomplete_file_raises_naming_path(
    tmp_path: Path, dicom_writer: DicomWriter, make_content
) -> None:
    dicom = dicom_writer(tmp_path / "source.dcm").read_bytes()
    path = tmp_path / "partial.dcm"
    path.write_bytes(make_content(dicom))
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: "):
        DICOMDataset(filepath=str(path)).load()


def test_a_path_under_the_home_folder_loads(
    tmp_path: Path, dicom_writer: DicomWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "~" in a catalog path is the home folder, as fsspec reads local paths."""
    monkeypatch.setenv("HOME", str(tmp_path))
    dicom_writer(tmp_path / "scans" / "a.dcm")
    dataset = DICOMDataset(filepath="~/scans/a.dcm")
    assert dataset.exists()
    assert dataset.load().PatientID == "SYN-000001"


def test_missing_file_raises_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.dcm"
    with pytest.raises(DatasetError, match=re.escape(str(path))):
        DICOMDataset(filepath=str(path)).load()


def test_save_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    with pytest.raises(DatasetError, match="DICOMDataset is read-only"):
        DICOMDataset(filepath=str(path)).save(pydicom.Dataset())
    assert not path.exists()


def test_exists(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    assert not DICOMDataset(filepath=str(tmp_path / "a.dcm")).exists()
    dicom_writer(tmp_path / "a.dcm")
    assert DICOMDataset(filepath=str(tmp_path / "a.dcm")).exists()
    assert not DICOMDataset(filepath=str(tmp_path)).exists()  # a folder is not a file


def test_describe(tmp_path: Path) -> None:
    dataset = DICOMDataset(filepath=str(tmp_path / "a.dcm"), load_args={"stop_before_pixels": True})
    description = dataset._describe()
    assert description == {
        "filepath": PurePosixPath(tmp_path.as_posix()) / "a.dcm",
        "protocol": "file",
        "load_args": {"stop_before_pixels": True},
    }
    assert "a.dcm" in str(dataset)


def test_load_args_are_not_shared(tmp_path: Path) -> None:
    args = {"stop_before_pixels": True}
    dataset = DICOMDataset(filepath=str(tmp_path / "a.dcm"), load_args=args)
    args["stop_before_pixels"] = False
    assert dataset._describe()["load_args"] == {"stop_before_pixels": True}
    assert DICOMDataset.DEFAULT_LOAD_ARGS == {}


def test_for_file_reads_another_file_with_the_same_arguments(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    first = dicom_writer(tmp_path / "a.dcm", patient_id="P-a")
    second = dicom_writer(tmp_path / "b.dcm", patient_id="P-b")
    dataset = DICOMDataset(filepath=str(first), load_args={"stop_before_pixels": True})
    twin = dataset.for_file(str(second))
    assert twin.path == str(second)
    assert twin.load().PatientID == "P-b"
    assert "PixelData" not in twin.load()
    # The original is untouched.
    assert dataset.path == str(first)
    assert dataset.load().PatientID == "P-a"
    with pytest.raises(DatasetError, match="not on this dataset's file filesystem"):
        dataset.for_file("memory://elsewhere/c.dcm")


def test_a_file_its_user_cannot_read_is_named_with_the_reason(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    import subprocess
    import sys

    from tests.unprivileged import as_a_normal_user

    path = dicom_writer(tmp_path / "secret.dcm")
    path.chmod(0)
    code = (
        "import sys\n"
        "from kedro.io.core import DatasetError\n"
        "from pneumothorax.datasets.dicom_dataset import DICOMDataset\n"
        "try:\n"
        "    DICOMDataset(filepath=sys.argv[1]).load()\n"
        "except DatasetError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [*as_a_normal_user(), sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"{path}: cannot read the file (Permission denied)"
