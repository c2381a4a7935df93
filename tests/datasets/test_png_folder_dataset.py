"""Tests for ``pneumothorax.datasets.png_folder_dataset.PngFolderDataset``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.io import AbstractDataset
from kedro.io.core import DatasetError
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from pneumothorax.datasets.png_dataset import PngDataset
from pneumothorax.datasets.png_folder_dataset import PngFolderDataset

CATALOG = Path(__file__).resolve().parents[2] / "conf" / "base" / "catalog.yml"


def _png(value: int, size: tuple[int, int] = (6, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


DATA = {"b": _png(20), "a": _png(10), "c/frame": _png(30)}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_writes_what_kedro_datasets_partitioned_dataset_writes(tmp_path: Path) -> None:
    """The reference is kedro-datasets' own PartitionedDataset of PngDataset."""
    PartitionedDataset(
        path=str(tmp_path / "reference"), dataset=PngDataset, filename_suffix=".png"
    ).save(DATA)
    PngFolderDataset(path=str(tmp_path / "fast")).save(DATA)
    assert _files(tmp_path / "fast") == _files(tmp_path / "reference")
    assert _files(tmp_path / "fast") == {f"{key}.png": png for key, png in DATA.items()}


def test_loads_every_png_by_id(tmp_path: Path) -> None:
    folder = PngFolderDataset(path=str(tmp_path / "pngs"))
    folder.save(DATA)
    (tmp_path / "pngs" / "notes.txt").write_text("not a partition")
    partitions = folder.load()
    assert list(partitions) == ["a", "b", "c/frame"]
    for key, value in (("a", 10), ("b", 20), ("c/frame", 30)):
        ref = partitions[key]
        assert (ref.id, ref.path) == (key, f"{key}.png")
        with ref.load() as image:
            assert image.size == (6, 4)
            assert set(np.asarray(image).ravel()) == {value}
        # What the incremental cache hashes: the file's own bytes, through its filesystem.
        with ref.open() as stream:
            assert stream.read() == DATA[key]
        assert ref.local_path == str(tmp_path / "pngs" / f"{key}.png")
        assert ref.reader_module == "pneumothorax.datasets.png_dataset"


def test_the_reading_options_name_the_dataset_never_credentials(tmp_path: Path) -> None:
    dataset = {"type": PngDataset, "save_args": {"compress_level": 1}}
    folder = PngFolderDataset(
        path=str(tmp_path / "pngs"), dataset=dataset, credentials={"secret": "s3cr3t"}
    )
    folder.save({"a": _png(1)})
    reader = folder.load()["a"].reader
    assert "PngDataset" in reader
    assert "s3cr3t" not in reader and "compress_level" not in reader


def test_callables_are_saved_lazily_and_pil_images_encoded(tmp_path: Path) -> None:
    folder = PngFolderDataset(path=str(tmp_path / "pngs"))
    folder.save({"lazy": lambda: _png(7), "pil": Image.new("L", (3, 3), 9)})
    assert (tmp_path / "pngs" / "lazy.png").read_bytes() == _png(7)
    with Image.open(tmp_path / "pngs" / "pil.png") as image:
        assert set(np.asarray(image).ravel()) == {9}


def test_overwrite_removes_earlier_partitions(tmp_path: Path) -> None:
    PngFolderDataset(path=str(tmp_path / "pngs")).save({"old": _png(1)})
    PngFolderDataset(path=str(tmp_path / "pngs"), overwrite=True).save({"new": _png(2)})
    assert sorted(_files(tmp_path / "pngs")) == ["new.png"]


def test_non_png_data_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = PngFolderDataset(path=str(tmp_path / "pngs"))
    with pytest.raises(DatasetError, match=r"bad\.png: data to save is not a PNG image"):
        folder.save({"bad": b"GIF89a"})
    assert not (tmp_path / "pngs" / "bad.png").exists()


def test_only_png_datasets_and_no_versions(tmp_path: Path) -> None:
    from pneumothorax.datasets.dicom_dataset import DICOMDataset

    with pytest.raises(DatasetError, match="dataset must be a PngDataset, got DICOMDataset"):
        PngFolderDataset(path=str(tmp_path), dataset=DICOMDataset)
    with pytest.raises(DatasetError, match="versioned partitions are not supported"):
        PngFolderDataset(path=str(tmp_path), dataset={"type": PngDataset, "versioned": True})


def test_empty_folder_has_no_partitions_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"No partitions found .*no such folder"):
        PngFolderDataset(path=str(tmp_path / "pngs")).load()
    # Saving nothing (every input rejected) still makes the folder: an empty result.
    PngFolderDataset(path=str(tmp_path / "pngs")).save({})
    assert (tmp_path / "pngs").is_dir()
    assert PngFolderDataset(path=str(tmp_path / "pngs")).load() == {}


def test_the_catalog_entry_builds_it() -> None:
    entry = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["img_train"]
    dataset = AbstractDataset.from_config("img_train", entry)
    assert isinstance(dataset, PngFolderDataset)


def test_unchanged_files_are_left_untouched_and_changed_ones_replaced(tmp_path: Path) -> None:
    """Same bytes: same inode and mtime (DVC's state database then skips the file)."""
    root = tmp_path / "pngs"
    PngFolderDataset(path=str(root)).save(DATA)
    before = {name: (root / name).stat() for name in ("a.png", "b.png")}
    PngFolderDataset(path=str(root)).save({"a": DATA["a"], "b": _png(21)})
    same, changed = (root / "a.png").stat(), (root / "b.png").stat()
    assert (same.st_ino, same.st_mtime_ns) == (before["a.png"].st_ino, before["a.png"].st_mtime_ns)
    assert changed.st_ino != before["b.png"].st_ino
    assert (root / "b.png").read_bytes() == _png(21)


def test_confirm_leaves_exactly_the_files_of_this_run(tmp_path: Path) -> None:
    """What an earlier run, a killed one or a checkout left goes; live temporaries stay."""
    root = tmp_path / "pngs"
    PngFolderDataset(path=str(root)).save({**DATA, "gone": _png(40), "d/0001": _png(50)})
    (root / "notes.txt").write_text("not written by this run")
    live = root / f".a.png.{os.getpid()}.{'0' * 32}.tmp"  # a write under way (this process)
    live.write_bytes(b"\x89PNG partial")
    folder = PngFolderDataset(path=str(root))
    folder.save({"a": DATA["a"]})  # two saves, as a generator node's chunks
    folder.save({"c/frame": DATA["c/frame"]})
    folder.confirm()
    assert _files(root) == {
        "a.png": DATA["a"],
        "c/frame.png": DATA["c/frame"],
        live.name: live.read_bytes(),
    }
    assert not (root / "d").exists()  # emptied subfolders go too


def test_confirm_without_any_save_leaves_an_empty_folder(tmp_path: Path) -> None:
    """Every input rejected: an empty folder (a stage output DVC expects), not a stale one."""
    root = tmp_path / "pngs"
    PngFolderDataset(path=str(root)).save(DATA)
    PngFolderDataset(path=str(root)).confirm()
    assert root.is_dir() and _files(root) == {}


def test_confirm_on_another_filesystem(tmp_path: Path) -> None:
    """fsspec's memory filesystem stands for an object store: the same end state."""
    path = f"memory://{tmp_path.as_posix()}/confirm"
    PngFolderDataset(path=path).save(DATA)
    folder = PngFolderDataset(path=path)
    folder.save({"b": DATA["b"]})
    folder.confirm()
    assert list(PngFolderDataset(path=path).load()) == ["b"]
