"""The raw manifest: one sorted row per readable raw file, equal exactly when the bytes are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.raw.manifest import build_manifest
from pneumothorax.runtime.incremental import ResultCache
from tests.raw.trees import expected_manifest, write_tree


def test_one_sorted_row_per_file_with_size_and_sha256(tmp_path: Path) -> None:
    files = write_tree(tmp_path / "raw")
    data, stats = build_manifest(str(tmp_path / "raw"), None)
    assert data == expected_manifest(files)
    assert (stats.files, stats.hashed) == (4, 4)


def test_hidden_files_and_folders_are_left_out(tmp_path: Path) -> None:
    files = write_tree(tmp_path / "raw")
    (tmp_path / "raw" / ".DS_Store").write_bytes(b"finder")
    (tmp_path / "raw" / "1.2" / ".hidden").mkdir()
    (tmp_path / "raw" / "1.2" / ".hidden" / "x.dcm").write_bytes(b"x")
    assert build_manifest(str(tmp_path / "raw"), None)[0] == expected_manifest(files)


def test_changes_exactly_when_bytes_or_names_change(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    files = write_tree(raw)
    cache = ResultCache(tmp_path / "cache")
    first, _ = build_manifest(str(raw), cache)
    # Touched, same bytes: the same manifest.
    os.utime(raw / "top.dcm", ns=(1, 1))
    assert build_manifest(str(raw), cache)[0] == first
    # Edited with the same size: the file is hashed again (its mtime changed).
    (raw / "1.2" / "3.4" / "5.7.dcm").write_bytes(b"SECOND")
    files["1.2/3.4/5.7.dcm"] = b"SECOND"
    edited, stats = build_manifest(str(raw), cache)
    assert edited == expected_manifest(files)
    assert stats.hashed == 1
    # Renamed: a new row, the old one gone.
    (raw / "top.dcm").rename(raw / "moved.dcm")
    files["moved.dcm"] = files.pop("top.dcm")
    assert build_manifest(str(raw), cache)[0] == expected_manifest(files)
    cache.close()


def test_known_files_are_not_reread(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    files = write_tree(raw)
    cache = ResultCache(tmp_path / "cache")
    build_manifest(str(raw), cache)
    (raw / "new.dcm").write_bytes(b"new")
    files["new.dcm"] = b"new"
    data, stats = build_manifest(str(raw), cache)
    cache.close()
    assert data == expected_manifest(files)
    assert (stats.files, stats.hashed) == (5, 1)


def test_digests_serve_the_pipeline_datasets(tmp_path: Path) -> None:
    """The pipeline looks digests up by its partitions' paths: the manifest records those."""
    raw = tmp_path / "raw"
    files = write_tree(raw)
    cache = ResultCache(tmp_path / "cache")
    build_manifest(str(raw), cache)
    partitions = DicomFolderDataset(
        path=str(raw), dataset="pneumothorax.datasets.dicom_dataset.DICOMDataset", ids="path"
    ).load()
    for ref in partitions.values():
        path = ref.local_path
        assert path is not None
        relative = Path(path).relative_to(raw).as_posix()
        expected = hashlib.sha256(files[relative]).hexdigest()
        assert cache.known_digest(path, os.stat(path)) == expected
    cache.close()
