"""Tests for the images pipeline's nodes (``pneumothorax.pipelines.images.nodes``)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.uid import JPEGBaseline8Bit

from pneumothorax.config.params import ImageParams
from pneumothorax.pipelines.images import nodes
from pneumothorax.pipelines.images.nodes import render_images, summarise_renders

from ..conftest import BAD_ID, SAMPLE_COUNT, SAMPLE_SIZE, Sample, file_mapper

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")

SEQUENTIAL = {"backend": "sequential", "workers": None}
PROCESSES = {"backend": "processes", "workers": 2}
NO_CACHE = {"enabled": False}  # the cache: tests/runtime/test_incremental.py


def _run(
    sample: Sample,
    image: dict,
    executor: dict,
    loaders: dict | None = None,
    incremental: dict = NO_CACHE,
) -> tuple[list[dict[str, bytes]], dict, pd.DataFrame]:
    """Drain the generator node; return its chunks, and the metrics and pixel histogram
    summarise_renders gives."""
    loaders = loaders or sample.files()
    chunks, reports = [], []
    typed = ImageParams.from_mapping(image)  # as Kedro's typed parameters give it
    for chunk, report in render_images(loaders, typed, file_mapper(executor, incremental)):
        # Copy as Kedro saves: at yield time (the node refills one dict to bound memory).
        chunks.append(dict(chunk))
        reports.append(report)
    assert all(report is reports[-1] for report in reports)  # one report, by reference
    table, metrics, histogram = summarise_renders(reports[-1])
    assert sorted(table["id"]) == sorted(loaders)  # one log row per candidate file
    return chunks, metrics, histogram


def _union(chunks: list[dict[str, bytes]]) -> dict[str, bytes]:
    merged: dict[str, bytes] = {}
    for chunk in chunks:
        assert merged.keys().isdisjoint(chunk)  # each id is yielded once
        merged.update(chunk)
    return merged


@pytest.mark.parametrize("size", [48, [40, 24]], ids=["square", "width-height"])
def test_one_png_per_good_file_at_image_size(sample: Sample, size: int | list[int]) -> None:
    chunks, metrics, _histogram = _run(sample, {"size": size, "png_compress_level": 1}, SEQUENTIAL)
    pngs = _union(chunks)
    assert sorted(pngs) == sorted(sample.good)
    assert BAD_ID not in pngs
    expected_size = (size, size) if isinstance(size, int) else tuple(size)
    for data in pngs.values():
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG"
        assert image.mode == "L"
        assert image.size == expected_size
    assert metrics["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}
    assert metrics["files_rejected"] == {"value": 1.0, "step": 0}


def test_native_size_pngs_hold_the_stored_pixels(sample: Sample) -> None:
    # 8-bit MONOCHROME2 without VOI renders as identity, and no resize at the native size.
    # JPEG decoders may differ by one grey level (IDCT tolerance, ISO/IEC 10918-2); JPEG
    # files take the fast path (libjpeg through Pillow), so compare with that decoder.
    chunks, _metrics, _histogram = _run(sample, {"size": SAMPLE_SIZE}, SEQUENTIAL)
    pngs = _union(chunks)
    for file_id, path in sample.good.items():
        ds = pydicom.dcmread(path)
        if ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit:
            ds.pixel_array_options(decoding_plugin="pillow")
        stored = ds.pixel_array
        decoded = np.asarray(Image.open(io.BytesIO(pngs[file_id])))
        np.testing.assert_array_equal(decoded, stored)


def test_chunks_are_bounded(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodes, "CHUNK_SIZE", 4)
    chunks, metrics, _histogram = _run(sample, {"size": 32}, SEQUENTIAL)
    assert [len(chunk) for chunk in chunks] == [4, 2]  # 6 good files
    assert metrics["files_converted"]["value"] == 6.0


def test_chunks_are_bounded_in_bytes(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each 32x32 8-bit PNG is far above 1 byte: every chunk closes after its first PNG.
    monkeypatch.setattr(nodes, "CHUNK_BYTES", 1)
    chunks, _metrics, _histogram = _run(sample, {"size": 32}, SEQUENTIAL)
    assert [len(chunk) for chunk in chunks] == [1, 1, 1, 1, 1, 1, 0]


def test_only_bad_files(sample: Sample) -> None:
    loaders = {BAD_ID: sample.files()[BAD_ID]}
    chunks, metrics, _histogram = _run(sample, {"size": 32}, SEQUENTIAL, loaders)
    assert chunks == [{}]
    assert metrics["files_converted"]["value"] == 0.0
    assert metrics["files_rejected"]["value"] == 1.0


def test_sequential_and_processes_are_byte_identical(sample: Sample) -> None:
    image = {"size": [40, 24], "png_compress_level": 6}
    sequential, seq_metrics, _histogram = _run(sample, image, SEQUENTIAL)
    processes, proc_metrics, _histogram = _run(sample, image, PROCESSES)
    assert _union(sequential) == _union(processes)
    for name in ("files_converted", "files_rejected"):
        assert seq_metrics[name] == proc_metrics[name]


def _grey_levels_of_pngs(pngs: dict[str, bytes]) -> list[int]:
    """Counted from the PNG bytes, as the reporting stage once did: decode, to 8-bit grey."""
    counts = np.zeros(256, dtype=np.int64)
    for png in pngs.values():
        with Image.open(io.BytesIO(png)) as image:
            np.add.at(counts, np.asarray(image.convert("L")).ravel(), 1)
    return counts.tolist()


@pytest.mark.parametrize(
    "image",
    [
        {"size": 48},
        {"size": [40, 24], "bit_depth": 16},
        {"size": 32, "keep_aspect": True},
        {"size": 32, "frames": "all"},
    ],
    ids=["8-bit", "16-bit", "letterbox", "all-frames"],
)
def test_pixel_histogram_is_that_of_the_pngs_written(sample: Sample, image: dict) -> None:
    chunks, _metrics, histogram = _run(sample, image, SEQUENTIAL)
    pngs = _union(chunks)
    assert list(histogram.columns) == ["intensity", "pixels"]
    assert histogram["intensity"].tolist() == list(range(256))
    assert histogram["pixels"].tolist() == _grey_levels_of_pngs(pngs)
    assert histogram["pixels"].sum() > 0


def test_pixel_histogram_is_the_same_on_processes_and_from_the_cache(
    sample: Sample, tmp_path
) -> None:
    image = {"size": [40, 24]}
    cache = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    _chunks, _metrics, sequential = _run(sample, image, SEQUENTIAL)
    _chunks, _metrics, processes = _run(sample, image, PROCESSES, incremental=cache)
    chunks, _metrics, cached = _run(sample, image, SEQUENTIAL, incremental=cache)
    assert processes.equals(sequential)
    assert cached.equals(sequential)
    assert cached["pixels"].tolist() == _grey_levels_of_pngs(_union(chunks))
