"""Tests for the deterministic synthetic DICOM sample generator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pneumothorax.raw.sample import generate_sample

SIZE = 128
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

# SIIM's bare-number PatientAge is invalid for VR AS; pydicom warns on read.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _relative_digests(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): _md5(path) for path in root.rglob("*.dcm")}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("sample")
    return root, generate_sample(root, count=8, seed=0, size=SIZE)


def test_layout_matches_uids(sample: tuple[Path, list[Path]]) -> None:
    root, paths = sample
    on_disk = sorted(p for p in root.rglob("*") if p.is_file())
    assert on_disk == paths
    assert len(paths) == 8
    for path in paths:
        study, series, name = path.relative_to(root).parts
        ds = pydicom.dcmread(path)
        assert study == ds.StudyInstanceUID
        assert series == ds.SeriesInstanceUID
        assert name == f"{ds.SOPInstanceUID}.dcm"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    # Every file lives in its own study and series, as in SIIM.
    assert len({p.parent for p in paths}) == 8


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    generate_sample(tmp_path / "a", count=4, seed=3, size=SIZE)
    generate_sample(tmp_path / "b", count=4, seed=3, size=SIZE)
    first = _relative_digests(tmp_path / "a")
    assert len(first) == 4
    assert first == _relative_digests(tmp_path / "b")


def test_file_does_not_depend_on_count(tmp_path: Path) -> None:
    generate_sample(tmp_path / "three", count=3, seed=1, size=SIZE)
    generate_sample(tmp_path / "five", count=5, seed=1, size=SIZE)
    three = _relative_digests(tmp_path / "three")
    five = _relative_digests(tmp_path / "five")
    assert len(three) == 3
    assert len(five) == 5
    assert three.items() <= five.items()


def test_different_seeds_differ(tmp_path: Path) -> None:
    generate_sample(tmp_path / "s0", count=2, seed=0, size=SIZE)
    generate_sample(tmp_path / "s1", count=2, seed=1, size=SIZE)
    s0 = set(_relative_digests(tmp_path / "s0").values())
    s1 = set(_relative_digests(tmp_path / "s1").values())
    assert s0.isdisjoint(s1)


def test_uids_do_not_collide_across_seeds(tmp_path: Path) -> None:
    # (seed 1, file 23) and (seed 12, file 3) concatenate to the same digits.
    one = generate_sample(tmp_path / "one", count=24, seed=1, size=32)
    twelve = generate_sample(tmp_path / "twelve", count=4, seed=12, size=32)
    names = [p.name for p in one + twelve]
    assert len(set(names)) == len(names)
    assert all(len(p.stem) <= 64 for p in one + twelve)


def test_regeneration_keeps_unchanged_files(tmp_path: Path) -> None:
    paths = generate_sample(tmp_path, count=2, seed=0, size=SIZE)
    before = [p.stat().st_mtime_ns for p in paths]
    again = generate_sample(tmp_path, count=2, seed=0, size=SIZE)
    assert again == paths
    assert [p.stat().st_mtime_ns for p in again] == before


def test_growing_with_skip_existing_builds_only_the_new_files(tmp_path: Path) -> None:
    generate_sample(tmp_path / "grown", count=3, seed=2, size=SIZE)
    marker = b"left alone"
    first = sorted((tmp_path / "grown").rglob("*.dcm"))
    for path in first:
        path.write_bytes(marker)  # skip_existing must not rebuild (or even read) these
    grown = generate_sample(tmp_path / "grown", count=5, seed=2, size=SIZE, skip_existing=True)
    generate_sample(tmp_path / "fresh", count=5, seed=2, size=SIZE)
    fresh = _relative_digests(tmp_path / "fresh")
    assert len(grown) == 5 and set(first) <= set(grown)
    assert all(p.read_bytes() == marker for p in first)
    new = {p.relative_to(tmp_path / "grown").as_posix() for p in grown} - {
        p.relative_to(tmp_path / "grown").as_posix() for p in first
    }
    assert new == set(fresh) - {p.relative_to(tmp_path / "grown").as_posix() for p in first}
    assert all(
        hashlib.md5((tmp_path / "grown" / rel).read_bytes()).hexdigest() == fresh[rel]
        for rel in new
    )


def test_headers(sample: tuple[Path, list[Path]]) -> None:
    _, paths = sample
    syntaxes = []
    for path in paths:
        raw = path.read_bytes()
        assert raw[:128] == b"\0" * 128
        assert raw[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        syntaxes.append(ds.file_meta.TransferSyntaxUID)
        assert ds.Modality == "CR"
        assert ds.SOPClassUID == SECONDARY_CAPTURE
        assert ds.file_meta.MediaStorageSOPClassUID == SECONDARY_CAPTURE
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert (ds.Rows, ds.Columns) == (SIZE, SIZE)
        assert ds.BitsAllocated == 8
        assert ds.BodyPartExamined == "CHEST"
        assert ds.PatientSex in {"M", "F"}
        assert ds.PatientAge.isdigit()
        age = int(ds.PatientAge)
        assert 18 <= age <= 90
        study = int(ds.StudyDate)
        birth = int(ds.PatientBirthDate)
        # YYYYMMDD integers subtract to whole years in the hundreds place.
        assert (study - birth) // 10000 == age
        assert ds.ViewPosition in {"PA", "AP"}
        assert ds.SeriesDescription == f"view: {ds.ViewPosition}"
        assert str(ds.PatientName).startswith("Synthetic^")
        assert float(ds.PixelSpacing[0]) * SIZE == pytest.approx(172.0, rel=0.01)
        if ds.file_meta.TransferSyntaxUID == JPEG_BASELINE:
            assert ds.LossyImageCompression == "01"
            assert ds.LossyImageCompressionMethod == "ISO_10918_1"
        else:
            assert "LossyImageCompression" not in ds
    assert set(syntaxes) == {JPEG_BASELINE, EXPLICIT_LE}
    assert syntaxes.count(JPEG_BASELINE) == 6


def test_pixels_are_anatomy_like(sample: tuple[Path, list[Path]]) -> None:
    _, paths = sample
    q = SIZE // 16
    centre_rows = slice(int(0.4 * SIZE), int(0.5 * SIZE))
    for path in paths:
        pixels = pydicom.dcmread(path).pixel_array
        assert pixels.shape == (SIZE, SIZE)
        assert pixels.dtype == np.uint8
        p1, p99 = np.percentile(pixels, [1, 99])
        assert p99 - p1 > 100
        values = pixels.astype(np.float64)
        assert np.abs(np.diff(values, axis=1)).mean() < 8

        left_lung = values[centre_rows, int(0.3 * SIZE) - q : int(0.3 * SIZE) + q]
        right_lung = values[centre_rows, int(0.7 * SIZE) - q : int(0.7 * SIZE) + q]
        mediastinum = values[centre_rows, SIZE // 2 - q // 2 : SIZE // 2 + q // 2]
        assert left_lung.mean() + 30 < mediastinum.mean()
        assert right_lung.mean() + 30 < mediastinum.mean()

        border = np.concatenate([values[:, : SIZE // 32].ravel(), values[:, -SIZE // 32 :].ravel()])
        body = values[int(0.75 * SIZE) :, int(0.3 * SIZE) : int(0.7 * SIZE)]
        assert border.mean() + 50 < body.mean()


def test_no_temporary_files_left(sample: tuple[Path, list[Path]]) -> None:
    root, paths = sample
    everything = [p for p in root.rglob("*") if p.is_file()]
    assert sorted(everything) == paths
    assert all(p.suffix == ".dcm" and not p.name.startswith(".") for p in everything)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_jpeg_fraction_extremes(tmp_path: Path, fraction: float) -> None:
    paths = generate_sample(tmp_path, count=4, size=64, jpeg_fraction=fraction)
    expected = JPEG_BASELINE if fraction == 1.0 else EXPLICIT_LE
    syntaxes = {pydicom.dcmread(p).file_meta.TransferSyntaxUID for p in paths}
    assert syntaxes == {expected}


# ---- Labels: SIIM's train-rle.csv next to the raw folder -----------------------------------


def _label_rows(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="ascii").splitlines()
    assert lines[0] == "ImageId, EncodedPixels"  # SIIM's header, leading space and all
    return [tuple(line.split(", ")) for line in lines[1:]]  # type: ignore[misc]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("labelled")
    return root, generate_sample(root / "raw", count=30, seed=0, size=64)


def test_labels_are_written_like_siims_next_to_the_raw_folder(
    labelled: tuple[Path, list[Path]],
) -> None:
    root, paths = labelled
    rows = _label_rows(root / "train-rle.csv")
    assert b"\r" not in (root / "train-rle.csv").read_bytes()
    # Every image has a row, and ImageId is the SOP Instance UID (the file name).
    assert {image_id for image_id, _ in rows} == {p.stem for p in paths}
    positives = {image_id for image_id, value in rows if value != "-1"}
    assert len(positives) == 10  # every third file
    # Some images have two regions, as SIIM writes them: two rows.
    per_image = {image_id: sum(i == image_id for i, _ in rows) for image_id in positives}
    assert 2 in per_image.values()
    assert all(
        value == "-1" for image_id, value in rows if image_id not in positives
    )  # and a negative has exactly one -1 row
    assert len(rows) == 30 + sum(n - 1 for n in per_image.values())


def test_labelled_regions_are_drawn_into_the_pixels(
    labelled: tuple[Path, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pneumothorax.labels.rle import decode
    from pneumothorax.raw import sample as sample_module

    root, paths = labelled
    runs: dict[str, list[str]] = {}
    for image_id, value in _label_rows(root / "train-rle.csv"):
        if value != "-1":
            runs.setdefault(image_id, []).append(value)
    # The same files without any pneumothorax drawn, to compare pixel by pixel.
    monkeypatch.setattr(sample_module, "_draw_lesions", lambda *args: [])
    plain_paths = generate_sample(tmp_path / "plain", count=30, seed=0, size=64, jpeg_fraction=0)
    plain = {p.stem: pydicom.dcmread(p).pixel_array.astype(int) for p in plain_paths}
    checked = 0
    for path in paths:
        ds = pydicom.dcmread(path)
        if path.stem not in runs or ds.file_meta.TransferSyntaxUID != EXPLICIT_LE:
            continue
        mask = decode(runs[path.stem], (ds.Rows, ds.Columns))
        assert mask.any()
        drawn = ds.pixel_array.astype(int)
        before = plain[path.stem]
        # Air in the pleural space: 5/8 of the grey level (before the grain is added).
        assert drawn[mask].mean() < 0.75 * before[mask].mean()
        # Away from the region and its one-pixel pleural line, nothing changed.
        near = mask | np.roll(mask, 1, 0) | np.roll(mask, -1, 0)
        near |= np.roll(near, 1, 1) | np.roll(near, -1, 1)
        np.testing.assert_array_equal(drawn[~near], before[~near])
        checked += 1
    assert checked >= 2


def test_labels_do_not_depend_on_count_or_skip_existing(tmp_path: Path) -> None:
    generate_sample(tmp_path / "a" / "raw", count=6, seed=1, size=64)
    generate_sample(tmp_path / "b" / "raw", count=9, seed=1, size=64)
    generate_sample(tmp_path / "b" / "raw", count=9, seed=1, size=64, skip_existing=True)
    six = _label_rows(tmp_path / "a" / "train-rle.csv")
    nine = _label_rows(tmp_path / "b" / "train-rle.csv")
    assert nine[: len(six)] == six
    assert len({image_id for image_id, _ in nine}) == 9
