"""The raw manifest: one sorted row per readable raw file, equal exactly when the bytes are."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pneumothorax.datasets.dicom_folder_dataset import DicomFolderDataset
from pneumothorax.raw.manifest import build_manifest, main
from pneumothorax.runtime.incremental import ResultCache
from tests.unprivileged import as_a_normal_user


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
    for ref in partitions.values():
        path = ref.local_path
        assert path is not None
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


def test_unreadable_entries_get_a_row_without_digest_and_never_stop_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.dicom.zoo import add_unreadable_entries

    raw = tmp_path / "raw"
    files = _tree(raw)
    problems = add_unreadable_entries(raw)
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  cache_dir: {tmp_path / 'c'}\n")
    out = tmp_path / "m.csv"
    assert main([str(raw), str(out), "--params", str(params)]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()
    good = _expected(files).decode().splitlines()
    # The non-UTF-8 name holds a DICOM file: its size, but no digest.
    odd_size = os.stat(os.fsencode(raw / "names") + b"/bad\xffname.dcm").st_size
    expected_bad = {
        "links/loop.dcm": "links/loop.dcm,,",
        "links/dangling.dcm": "links/dangling.dcm,,",
        "special/fifo.dcm": "special/fifo.dcm,,",
        "names/bad\\xffname.dcm": f"names/bad\\xffname.dcm,{odd_size},",
        "names/bad\\xfefolder/inside.dcm": f"names/bad\\xfefolder/inside.dcm,{odd_size},",
    }
    assert rows == [good[0], *sorted(good[1:] + list(expected_bad.values()))]
    for name, reason in problems.items():
        assert f"raw manifest: {name}: {reason}" in caplog.text


def test_a_file_unreadable_for_its_user_is_listed(tmp_path: Path) -> None:
    """chmod 000 stops any user but root: as root, the manifest runs without the powers
    that let root read anyway (DAC override), as a normal user would."""
    raw = tmp_path / "raw"
    files = _tree(raw)
    (raw / "secret.dcm").write_bytes(b"secret")
    (raw / "secret.dcm").chmod(0)
    (raw / "locked").mkdir()
    (raw / "locked" / "hidden-by-its-folder.dcm").write_bytes(b"x")
    (raw / "locked").chmod(0)
    out = tmp_path / "m.csv"
    command = [sys.executable, "-m", "pneumothorax.raw.manifest", str(raw), str(out)]
    result = subprocess.run(
        [*as_a_normal_user(), *command, "--params", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "raw manifest: secret.dcm: cannot read the file (Permission denied)" in result.stderr
    assert "Traceback" not in result.stderr
    (raw / "locked").chmod(0o755)  # let tmp_path's cleanup in
    assert "raw manifest: locked: cannot read the folder (Permission denied)" in result.stderr
    rows = out.read_text().splitlines()
    assert "secret.dcm,6," in rows
    assert "locked,," in rows
    assert set(_expected(files).decode().splitlines()) < set(rows)


def test_main_names_an_empty_folder_and_a_cache_dir_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "raw" / ".hidden").mkdir(parents=True)
    assert main([str(tmp_path / "raw"), str(tmp_path / "m.csv"), "--params", "/none"]) == 1
    assert "raw folder" in capsys.readouterr().err
    _tree(tmp_path / "raw")
    (tmp_path / "afile").write_text("x")
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  cache_dir: {tmp_path / 'afile'}\n")
    assert main([str(tmp_path / "raw"), str(tmp_path / "m.csv"), "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "incremental.cache_dir must be a folder" in err
    assert not (tmp_path / "m.csv").exists()
