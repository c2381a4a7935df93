"""`make sample`: the raw folder in place and in the DVC cache, never over another team's data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pneumothorax.commands.raw_setup import place

DEFAULT = "data/01_raw/dicom-images-train"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git + DVC repository as the working directory, the venv's dvc on PATH."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["dvc", "init", "-q"], check=True)
    (tmp_path / "data" / "01_raw").mkdir(parents=True)
    return tmp_path


def _cached_files(repo: Path) -> int:
    return sum(1 for p in (repo / ".dvc" / "cache").rglob("*") if p.is_file())


def test_a_present_folder_is_added_to_the_cache(repo: Path) -> None:
    folder = repo / "data" / "01_raw" / "mine"
    folder.mkdir()
    for name in ("a.dcm", "b.dcm"):
        (folder / name).write_bytes(name.encode())
    done = place("data/01_raw/mine", count=3, default_folder=DEFAULT)
    assert done == "raw data present: data/01_raw/mine (in the DVC cache: `dvc push` sends it)"
    assert (repo / "data" / "01_raw" / "mine.dvc").is_file()
    assert _cached_files(repo) == 3  # two files and the folder's listing


def test_a_missing_folder_other_than_the_default_is_not_generated(repo: Path) -> None:
    with pytest.raises(RuntimeError, match=r"check raw\.folder in params\.yaml"):
        place("data/01_raw/mine", count=3, default_folder=DEFAULT)
    assert not (repo / "data" / "01_raw" / "mine").exists()


def test_the_sample_is_never_generated_over_a_pointer_to_other_data(repo: Path) -> None:
    tracker = repo / f"{DEFAULT}.dvc"
    text = "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: dicom-images-train\n"
    tracker.write_text(text)
    with pytest.raises(RuntimeError, match="tracks data other than the bundled sample"):
        place(DEFAULT, count=3, default_folder=DEFAULT)
    assert tracker.read_text() == text
    assert not (repo / DEFAULT).exists()


def test_the_default_folder_gets_the_generated_sample_in_the_cache(repo: Path) -> None:
    done = place(DEFAULT, count=2, default_folder=DEFAULT)
    assert done.startswith(f"generated the bundled synthetic sample: 2 files in {DEFAULT}")
    assert len(list((repo / DEFAULT).rglob("*.dcm"))) == 2
    assert _cached_files(repo) == 3


def test_a_tracked_folder_that_cannot_be_pulled_says_why_the_pull_failed(repo: Path) -> None:
    tracker = repo / "data" / "01_raw" / "mine.dvc"
    tracker.write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: mine\n")
    # No remote is set up: saying only "`dvc pull` restores it" would send the user in a circle.
    with pytest.raises(RuntimeError, match=r"not fetched yet.*`dvc pull` failed here \(.+\)"):
        place("data/01_raw/mine", count=3, default_folder=DEFAULT)


LABELS = "data/01_raw/train-rle.csv"


def test_the_generated_labels_go_to_the_cache_too(repo: Path) -> None:
    from pneumothorax.commands.raw_setup import place_labels

    place(DEFAULT, count=3, default_folder=DEFAULT)  # the generator writes train-rle.csv
    assert place_labels(LABELS) == f"labels present: {LABELS} (in the DVC cache)"
    assert (repo / f"{LABELS}.dvc").is_file()
    assert _cached_files(repo) == 5  # three files, the folder's listing, the labels


def test_missing_labels_are_reported_not_an_error(repo: Path) -> None:
    from pneumothorax.commands.raw_setup import place_labels

    assert place_labels(LABELS).startswith(f"no labels at {LABELS}: put SIIM's train-rle.csv")
