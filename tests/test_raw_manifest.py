"""The raw manifest: one sorted row per readable raw file, equal exactly when the bytes are."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.incremental import ResultCache, source_path
from pneumothorax.raw_manifest import build_manifest, main


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "1.2/3.4/5.6.dcm": b"first file",
        "1.2/3.4/5.7.dcm": b"second",
        "9.9/README": b"no suffix",
        "top.dcm": b"",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def _expected(files: dict[str, bytes]) -> bytes:
    # Computed here with hashlib and sorted(), not by the module under test.
    lines = ["path,size,sha256"]
    for relative in sorted(files):
        data = files[relative]
        lines.append(f"{relative},{len(data)},{hashlib.sha256(data).hexdigest()}")
    return ("\n".join(lines) + "\n").encode()


def test_one_sorted_row_per_file_with_size_and_sha256(tmp_path: Path) -> None:
    files = _tree(tmp_path / "raw")
    data, stats = build_manifest(str(tmp_path / "raw"), None)
    assert data == _expected(files)
    assert (stats.files, stats.hashed) == (4, 4)


def test_hidden_files_and_folders_are_left_out(tmp_path: Path) -> None:
    files = _tree(tmp_path / "raw")
    (tmp_path / "raw" / ".DS_Store").write_bytes(b"finder")
    (tmp_path / "raw" / "1.2" / ".hidden").mkdir()
    (tmp_path / "raw" / "1.2" / ".hidden" / "x.dcm").write_bytes(b"x")
    assert build_manifest(str(tmp_path / "raw"), None)[0] == _expected(files)


def test_changes_exactly_when_bytes_or_names_change(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    files = _tree(raw)
    cache = ResultCache(tmp_path / "cache")
    first, _ = build_manifest(str(raw), cache)
    # Touched, same bytes: the same manifest.
    os.utime(raw / "top.dcm", ns=(1, 1))
    assert build_manifest(str(raw), cache)[0] == first
    # Edited with the same size: the file is hashed again (its mtime changed).
    (raw / "1.2" / "3.4" / "5.7.dcm").write_bytes(b"SECOND")
    files["1.2/3.4/5.7.dcm"] = b"SECOND"
    edited, stats = build_manifest(str(raw), cache)
    assert edited == _expected(files)
    assert stats.hashed == 1
    # Renamed: a new row, the old one gone.
    (raw / "top.dcm").rename(raw / "moved.dcm")
    files["moved.dcm"] = files.pop("top.dcm")
    assert build_manifest(str(raw), cache)[0] == _expected(files)
    cache.close()


def test_known_files_are_not_reread(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    files = _tree(raw)
    cache = ResultCache(tmp_path / "cache")
    build_manifest(str(raw), cache)
    (raw / "new.dcm").write_bytes(b"new")
    files["new.dcm"] = b"new"
    data, stats = build_manifest(str(raw), cache)
    cache.close()
    assert data == _expected(files)
    assert (stats.files, stats.hashed) == (5, 1)


def test_digests_serve_the_pipeline_datasets(tmp_path: Path) -> None:
    """The pipeline looks digests up by its partitions' paths: the manifest records those."""
    raw = tmp_path / "raw"
    files = _tree(raw)
    cache = ResultCache(tmp_path / "cache")
    build_manifest(str(raw), cache)
    partitions = DicomFolderDataset(
        path=str(raw), dataset="pneumothorax.datasets.dicom_dataset.DICOMDataset", ids="path"
    ).load()
    for load in partitions.values():
        path = source_path(load)
        relative = Path(path).relative_to(raw).as_posix()
        expected = hashlib.sha256(files[relative]).hexdigest()
        assert cache.known_digest(path, os.stat(path)) == expected
    cache.close()


def test_main_writes_the_manifest_with_the_cache_of_params_yaml(tmp_path: Path) -> None:
    files = _tree(tmp_path / "raw")
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  enabled: true\n  cache_dir: {tmp_path / 'c'}\n")
    out = tmp_path / "out" / "raw_manifest.csv"
    assert main([str(tmp_path / "raw"), str(out), "--params", str(params)]) == 0
    assert out.read_bytes() == _expected(files)
    assert (tmp_path / "c" / "cache.sqlite").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_main_names_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path / "nope"), str(tmp_path / "m.csv")]) == 1
    assert f"raw folder '{tmp_path / 'nope'}' does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()
