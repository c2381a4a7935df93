"""``python -m pneumothorax.commands.sample``: the sample generator's command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pneumothorax.commands.sample import main


def _label_rows(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines()[1:]


def test_cli_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    assert main(["--out", str(out), "--count", "2", "--size", "128"]) == 0
    assert len(list(out.rglob("*.dcm"))) == 2
    assert "2 files" in capsys.readouterr().out


def test_cli_rejects_bad_fraction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--out", str(tmp_path), "--jpeg-fraction", "1.5"])
    assert exited.value.code == 2  # argparse's status for a usage error
    assert "jpeg_fraction must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_cli_writes_labels_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "labels.csv"
    assert main(["--out", str(tmp_path / "raw"), "--count", "3", "--size", "64",
                 "--labels", str(target)]) == 0  # fmt: skip
    assert len(_label_rows(target)) == 3
    assert not (tmp_path / "train-rle.csv").exists()


def test_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pneumothorax.commands.sample", "--out", str(tmp_path / "raw"),
         "--count", "1", "--size", "32"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote 1 files (0.0 MB) to {tmp_path / 'raw'} in ")
    assert len(list((tmp_path / "raw").rglob("*.dcm"))) == 1
