"""Tests for ``pneumothorax.datasets.dicom_folder_dataset.DicomFolderDataset``."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from kedro.io import AbstractDataset
from kedro.io.core import DatasetError

from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset

from .conftest import DicomWriter

CATALOG = Path(__file__).resolve().parents[2] / "conf" / "base" / "catalog.yml"


def _catalog_entry(name: str, path: Path) -> dict:
    """The catalog's own entry for ``name``, pointed at ``path``."""
    entry = copy.deepcopy(yaml.safe_load(CATALOG.read_text(encoding="utf-8"))[name])
    entry["path"] = str(path)
    return entry


def _folder(entry_name: str, root: Path) -> DicomFolderDataset:
    dataset = AbstractDataset.from_config(entry_name, _catalog_entry(entry_name, root))
    assert isinstance(dataset, DicomFolderDataset)
    return dataset


@pytest.fixture
def tree(tmp_path: Path, dicom_writer: DicomWriter) -> Path:
    root = tmp_path / "dicom-images-train"
    layout = {
        "1.2/3.4/5.6.dcm": "P-nested",
        "1.2/3.4/IM0001": "P-no-suffix",
        "9.9/UPPER.DCM": "P-upper",
        "a.dcm": "P-a",
        "a-b.dcm": "P-a-b",  # path order "a-b.dcm" < "a.dcm", id order "a" < "a-b"
        ".hidden.dcm": "hidden-file",
        ".git/objects/x.dcm": "hidden-folder",
        "1.2/.cache/y.dcm": "nested-hidden-folder",
    }
    for relative, patient_id in layout.items():
        dicom_writer(root / relative, patient_id=patient_id)
    return root


# ids: name (the catalog's choice) -- the file name without ".dcm", as SIIM's ImageId.
EXPECTED_IDS = ["5.6", "IM0001", "UPPER", "a", "a-b"]
PATH_IDS = ["1.2/3.4/5.6", "1.2/3.4/IM0001", "9.9/UPPER", "a", "a-b"]


def test_partition_ids(tree: Path) -> None:
    partitions = _folder("dicom_images", tree).load()
    assert list(partitions) == EXPECTED_IDS


def test_catalog_uses_file_names_as_ids() -> None:
    assert _catalog_entry("dicom_images", Path("x"))["ids"] == "name"


def test_path_ids_keep_the_folders(tree: Path) -> None:
    entry = {**_catalog_entry("dicom_images", tree), "ids": "path"}
    partitions = AbstractDataset.from_config("dicom_images", entry).load()
    assert list(partitions) == PATH_IDS
    assert partitions["1.2/3.4/IM0001"].load().PatientID == "P-no-suffix"


def test_each_partition_knows_its_path_below_the_folder(tree: Path) -> None:
    partitions = _folder("dicom_images", tree).load()
    relative = {pid: ref.path for pid, ref in partitions.items()}
    assert all(ref.id == pid for pid, ref in partitions.items())
    assert relative == {
        "5.6": "1.2/3.4/5.6.dcm",
        "IM0001": "1.2/3.4/IM0001",
        "UPPER": "9.9/UPPER.DCM",
        "a": "a.dcm",
        "a-b": "a-b.dcm",
    }


def test_one_name_in_two_folders_is_refused_naming_both(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    dicom_writer(tmp_path / "study1" / "IM0001.dcm")
    dicom_writer(tmp_path / "study2" / "IM0001.dcm")
    with pytest.raises(
        DatasetError,
        match=r"^study1/IM0001\.dcm and study2/IM0001\.dcm: both map to the id 'IM0001'; "
        r"set `ids: path`",
    ):
        _folder("dicom_images", tmp_path).load()


def test_unknown_id_scheme_is_refused(tmp_path: Path) -> None:
    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    with pytest.raises(DatasetError, match="ids must be 'name' or 'path', got 'stem'"):
        DicomFolderDataset(path=str(tmp_path), dataset=DICOMDataset, ids="stem")


def test_partitions_load_their_own_file(tree: Path) -> None:
    partitions = _folder("dicom_images", tree).load()
    patients = {pid: ref.load().PatientID for pid, ref in partitions.items()}
    assert patients == {
        "5.6": "P-nested",
        "IM0001": "P-no-suffix",
        "UPPER": "P-upper",
        "a": "P-a",
        "a-b": "P-a-b",
    }
    assert "PixelData" in partitions["a"].load()


def test_header_only_load_args_stop_before_pixels(tree: Path) -> None:
    # The catalog no longer has a header-only entry (the metadata stage decodes pixels to
    # check them), but the dataset still passes load_args through to pydicom.dcmread.
    entry = _catalog_entry("dicom_images", tree)
    entry["dataset"] = {**entry["dataset"], "load_args": {"stop_before_pixels": True}}
    partitions = AbstractDataset.from_config("headers", entry).load()
    ds = partitions["5.6"].load()
    assert "PixelData" not in ds
    assert ds.PatientID == "P-nested"


def test_non_dicom_file_is_a_candidate_that_fails_on_load(tree: Path) -> None:
    (tree / "notes.txt").write_text("not an image\n" * 20, encoding="utf-8")
    partitions = _folder("dicom_images", tree).load()
    assert "notes.txt" in partitions
    with pytest.raises(DatasetError, match=r"notes\.txt: not a DICOM file"):
        partitions["notes.txt"].load()


def test_folder_inside_a_hidden_folder_is_listed(tmp_path: Path, dicom_writer: DicomWriter) -> None:
    # A DVC temporary workspace lives under <repo>/.dvc/tmp/exps/...: only hidden parts
    # *below* the dataset's own path are skipped.
    root = tmp_path / ".dvc" / "tmp" / "exps" / "run" / "raw"
    dicom_writer(root / "s" / "x.dcm")
    dicom_writer(root / ".s" / "y.dcm")
    assert list(_folder("dicom_images", root).load()) == ["x"]


def test_constructed_directly_with_dataset_class(tree: Path) -> None:
    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    dataset = DicomFolderDataset(path=str(tree), dataset=DICOMDataset, filename_suffix=".dcm")
    # filename_suffix is ignored: files without a suffix stay partitions.
    assert list(dataset.load()) == EXPECTED_IDS


def test_save_is_refused(tree: Path) -> None:
    before = sorted(p for p in tree.rglob("*"))
    with pytest.raises(DatasetError, match="DicomFolderDataset is read-only"):
        _folder("dicom_images", tree).save({"new": b"data"})
    assert sorted(p for p in tree.rglob("*")) == before


def test_two_files_with_the_same_id_are_refused_naming_both(tmp_path: Path) -> None:
    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    (tmp_path / "x").write_bytes(b"one")
    (tmp_path / "x.dcm").write_bytes(b"two")
    folder = DicomFolderDataset(path=str(tmp_path), dataset=DICOMDataset)
    with pytest.raises(DatasetError, match=r"^x and x\.dcm: both map to the id 'x'; rename one"):
        folder.load()


def test_a_remote_folder_is_listed_through_fsspec(tree: Path) -> None:
    """Local folders are walked with os.scandir; any other filesystem keeps fsspec's find."""
    import fsspec

    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    memory = fsspec.filesystem("memory")
    root = "memory://dicom-folder-test"
    try:
        for path in tree.rglob("*"):
            if path.is_file():
                memory.pipe(f"{root}/{path.relative_to(tree).as_posix()}", path.read_bytes())
        partitions = DicomFolderDataset(path=root, dataset=DICOMDataset).load()
        assert list(partitions) == EXPECTED_IDS
        assert {pid: ref.load().PatientID for pid, ref in partitions.items()}["a-b"] == "P-a-b"
        assert all(ref.local_path is None for ref in partitions.values())  # not this machine's
    finally:
        memory.rm(root, recursive=True)


def test_a_symlinked_folder_is_not_followed_like_the_manifest(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    root = tmp_path / "raw"
    dicom_writer(root / "s" / "x.dcm")
    dicom_writer(tmp_path / "elsewhere" / "y.dcm")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "z.dcm").symlink_to(tmp_path / "elsewhere" / "y.dcm")  # links to files are read
    assert list(_folder("dicom_images", root).load()) == ["x", "z"]


def test_unreadable_entries_are_partitions_whose_load_gives_the_reason(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    from tests.dicom.zoo import add_unreadable_entries

    root = tmp_path / "raw"
    dicom_writer(root / "good.dcm")
    problems = add_unreadable_entries(root, good=root / "good.dcm")
    partitions = _folder("dicom_images", root).load()
    expected_ids = {"good", *(name.rsplit("/", 1)[-1].removesuffix(".dcm") for name in problems)}
    assert set(partitions) == expected_ids
    assert partitions["good"].load().PatientID == "SYN-000001"
    assert partitions["good"].local_path == str(root / "good.dcm")
    for name, reason in problems.items():
        ref = partitions[name.rsplit("/", 1)[-1].removesuffix(".dcm")]
        assert ref.path == name
        assert ref.url is None and ref.local_path is None  # never opened, hashed or cached
        with pytest.raises(DatasetError, match=f"^{re.escape(name)}: {re.escape(reason)}$"):
            ref.load()


def test_missing_or_empty_folder_and_duplicate_ids_are_user_errors(
    tmp_path: Path, dicom_writer: DicomWriter
) -> None:
    from pneumothorax.datasets.dicom_folder_dataset import RawFolderError

    with pytest.raises(RawFolderError, match=r"raw folder .* does not exist"):
        _folder("dicom_images", tmp_path / "none").load()
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    with pytest.raises(RawFolderError, match=r"raw folder .* holds no files"):
        _folder("dicom_images", tmp_path / "empty").load()
    dicom_writer(tmp_path / "dup" / "a" / "x.dcm")
    dicom_writer(tmp_path / "dup" / "b" / "x.dcm")
    with pytest.raises(
        RawFolderError, match=re.escape("a/x.dcm and b/x.dcm: both map to the id 'x'")
    ):
        _folder("dicom_images", tmp_path / "dup").load()


def test_each_file_names_how_it_is_read_without_secrets(tree: Path) -> None:
    """The reading options enter the cache key: load_args do, credentials and fs_args never."""
    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    dataset = {
        "type": DICOMDataset,
        "load_args": {"stop_before_pixels": True},
        "fs_args": {"auto_mkdir": False},
    }
    folder = DicomFolderDataset(path=str(tree), dataset=dataset, credentials={"token": "s3cr3t"})
    refs = list(folder.load().values())
    assert {ref.reader for ref in refs} == {
        '["DICOMDataset", {"load_args": {"stop_before_pixels": true}}]'
    }
    assert {ref.reader_module for ref in refs} == {"pneumothorax.datasets.dicom_dataset"}
    plain = DicomFolderDataset(path=str(tree), dataset=DICOMDataset).load()
    assert {ref.reader for ref in plain.values()} == {'["DICOMDataset", {}]'}
