"""``python -m pneumothorax.commands.raw_manifest``: the ``raw_manifest`` stage's command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pneumothorax
from pneumothorax.commands.raw_manifest import main
from tests.raw.trees import expected_manifest, write_tree
from tests.unprivileged import as_a_normal_user


def test_main_writes_the_manifest_with_the_cache_of_params_yaml(tmp_path: Path) -> None:
    files = write_tree(tmp_path / "raw")
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  enabled: true\n  cache_dir: {tmp_path / 'c'}\n")
    out = tmp_path / "out" / "raw_manifest.csv"
    assert main([str(tmp_path / "raw"), str(out), "--params", str(params)]) == 0
    assert out.read_bytes() == expected_manifest(files)
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
    files = write_tree(raw)
    problems = add_unreadable_entries(raw)
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  cache_dir: {tmp_path / 'c'}\n")
    out = tmp_path / "m.csv"
    assert main([str(raw), str(out), "--params", str(params)]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()
    good = expected_manifest(files).decode().splitlines()
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
    files = write_tree(raw)
    (raw / "secret.dcm").write_bytes(b"secret")
    (raw / "secret.dcm").chmod(0)
    (raw / "locked").mkdir()
    (raw / "locked" / "hidden-by-its-folder.dcm").write_bytes(b"x")
    (raw / "locked").chmod(0)
    out = tmp_path / "m.csv"
    command = [sys.executable, "-m", "pneumothorax.commands.raw_manifest", str(raw), str(out)]
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
    assert set(expected_manifest(files).decode().splitlines()) < set(rows)


def test_main_names_an_empty_folder_and_a_cache_dir_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "raw" / ".hidden").mkdir(parents=True)
    assert main([str(tmp_path / "raw"), str(tmp_path / "m.csv"), "--params", "/none"]) == 1
    assert "raw folder" in capsys.readouterr().err
    write_tree(tmp_path / "raw")
    (tmp_path / "afile").write_text("x")
    params = tmp_path / "params.yaml"
    params.write_text(f"incremental:\n  cache_dir: {tmp_path / 'afile'}\n")
    assert main([str(tmp_path / "raw"), str(tmp_path / "m.csv"), "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "incremental.cache_dir must be a folder" in err
    assert not (tmp_path / "m.csv").exists()


def test_a_params_file_that_is_not_yaml_is_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_tree(tmp_path / "raw")
    params = tmp_path / "params.yaml"
    params.write_text("incremental: [1, 2\nenabled: yes\n")
    assert main([str(tmp_path / "raw"), str(tmp_path / "m.csv"), "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {params}: not valid YAML") and err.count("\n") == 1
    assert not (tmp_path / "m.csv").exists()


def test_the_command_runs_the_code_of_the_project_it_is_run_in(tmp_path: Path) -> None:
    """``python -m`` finds the installed package; a project folder with its own ``src/`` (a
    ``dvc exp run --temp`` copy) runs that copy's command instead, as ``kedro run`` does."""
    installed = Path(pneumothorax.__file__).parent
    copy = tmp_path / "project" / "src" / "pneumothorax"
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    command = copy / "commands" / "raw_manifest.py"
    command.write_text(
        command.read_text().replace('"raw manifest: %d files', '"raw manifest (the copy): %d files')
    )
    write_tree(tmp_path / "raw")
    args = [sys.executable, "-m", "pneumothorax.commands.raw_manifest", str(tmp_path / "raw")]

    def run(folder: Path) -> str:
        result = subprocess.run(
            [*args, str(folder / "m.csv"), "--params", "/none"],
            cwd=folder, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return result.stderr

    assert "raw manifest (the copy): " in run(tmp_path / "project")
    assert "raw manifest: " in run(tmp_path)  # no src/ here: the installed package
