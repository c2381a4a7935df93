"""Tests for ``pneumothorax.datasets.png_dataset.PngDataset``."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from pneumothorax.datasets.png_dataset import PngDataset

PIXELS = (np.arange(24 * 16) % 256).astype(np.uint8).reshape(16, 24)


def _png(pixels: np.ndarray = PIXELS) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [_png(), bytearray(_png()), Image.fromarray(PIXELS, mode="L")],
    ids=["bytes", "bytearray", "pil-image"],
)
def test_save_and_load_round_trip(tmp_path: Path, data: object) -> None:
    path = tmp_path / "out" / "nested" / "img.png"  # parent folders are created
    dataset = PngDataset(filepath=str(path))
    dataset.save(data)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = dataset.load()
    assert image.size == (24, 16)
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), PIXELS)


def test_bytes_are_written_unchanged(tmp_path: Path) -> None:
    data = _png()
    PngDataset(filepath=str(tmp_path / "x.png")).save(data)
    assert (tmp_path / "x.png").read_bytes() == data


def test_save_args_apply_to_pil_images(tmp_path: Path) -> None:
    image = Image.fromarray(PIXELS, mode="L")
    PngDataset(filepath=str(tmp_path / "0.png"), save_args={"compress_level": 0}).save(image)
    PngDataset(filepath=str(tmp_path / "9.png"), save_args={"compress_level": 9}).save(image)
    assert (tmp_path / "0.png").stat().st_size > (tmp_path / "9.png").stat().st_size


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a" + b"\x00" * 20, _png()[1:], "not bytes", 42],
    ids=["empty", "gif", "damaged-signature", "str", "int"],
)
def test_refuses_non_png(tmp_path: Path, data: object) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(
        DatasetError, match=re.escape(f"{path.as_posix()}: data to save is not a PNG")
    ):
        PngDataset(filepath=str(path)).save(data)
    assert list(tmp_path.iterdir()) == []


def test_leaves_no_temporary_files(tmp_path: Path) -> None:
    for index in range(3):
        PngDataset(filepath=str(tmp_path / f"{index}.png")).save(_png())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png"]


def test_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png(np.zeros((4, 4), dtype=np.uint8)))
    new = _png()
    PngDataset(filepath=str(path)).save(new)
    assert path.read_bytes() == new
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_failed_write_keeps_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.png"
    old = _png(np.zeros((4, 4), dtype=np.uint8))
    path.write_bytes(old)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(DatasetError, match="simulated crash before rename"):
        PngDataset(filepath=str(path)).save(_png())
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_exists_and_describe(tmp_path: Path) -> None:
    dataset = PngDataset(filepath=str(tmp_path / "x.png"))
    assert not dataset.exists()
    dataset.save(_png())
    assert dataset.exists()
    assert dataset._describe()["protocol"] == "file"
    assert str(dataset._describe()["filepath"]).endswith("x.png")


def test_save_removes_what_a_killed_save_of_the_same_file_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    from pneumothorax.datasets.png_dataset import PngDataset

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".sheet.png.{dead.pid}.{'0' * 32}.tmp"
    stale.write_bytes(b"\x89PNG half")
    other = tmp_path / f".other.png.{dead.pid}.{'1' * 32}.tmp"  # another file's: left
    other.write_bytes(b"x")
    PngDataset(filepath=str(tmp_path / "sheet.png")).save(Image.new("L", (2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sheet.png", other.name])
