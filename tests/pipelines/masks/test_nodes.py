"""The masks node: a PNG per labelled image, negatives all zeros, at image.size."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pneumothorax.config.params import ImageParams
from pneumothorax.pipelines.masks import nodes
from pneumothorax.pipelines.masks.nodes import render_masks
from tests.pipelines.conftest import file_mapper


@pytest.mark.parametrize("backend", ["sequential", "processes"])
def test_one_png_per_labelled_image(backend: str) -> None:
    labels = pd.DataFrame({"id": ["a", "b"], "rows": [2, 2], "columns": [2, 2]})
    runs = pd.DataFrame({"id": ["a", "a", "b"], "encoded_pixels": ["0 1", "2 1", "-1"]})
    mapper = file_mapper({"backend": backend, "workers": 2})
    try:
        (masks,) = render_masks(labels, runs, ImageParams(size=(4, 4)), mapper)
    finally:
        mapper.close()
    assert sorted(masks) == ["a", "b"]
    a = np.asarray(Image.open(io.BytesIO(masks["a"])))
    b = Image.open(io.BytesIO(masks["b"]))
    # "0 1" and "2 1" in a 2 x 2 image: pixels 0 and 2 = the top row, doubled to 4 x 4.
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[:2, :] = 255
    np.testing.assert_array_equal(a, expected)
    assert b.mode == "L"
    assert b.size == (4, 4)
    assert not np.asarray(b).any()


def test_masks_come_a_chunk_at_a_time_and_an_empty_run_yields_one_empty_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nodes, "CHUNK_SIZE", 2)
    ids = ["a", "b", "c", "d", "e"]
    labels = pd.DataFrame({"id": ids, "rows": [2] * 5, "columns": [2] * 5})
    runs = pd.DataFrame({"id": ids, "encoded_pixels": ["-1"] * 5})
    chunks = list(render_masks(labels, runs, ImageParams(size=(4, 4)), file_mapper()))
    assert [sorted(chunk) for chunk in chunks] == [["a", "b"], ["c", "d"], ["e"]]
    none = labels.iloc[:0]
    assert list(render_masks(none, runs.iloc[:0], ImageParams(size=(4, 4)), file_mapper())) == [{}]


def test_a_rerun_draws_only_the_masks_whose_rows_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The masks are cached by each image's rows and shape: a changed label is drawn, the
    others come from the cache, byte for byte as drawn."""
    labels = pd.DataFrame({"id": ["a", "b"], "rows": [2, 2], "columns": [2, 2]})
    runs = pd.DataFrame({"id": ["a", "a", "b"], "encoded_pixels": ["0 1", "2 1", "-1"]})
    more = pd.DataFrame({"id": ["a", "b", "c"], "rows": [2, 2, 2], "columns": [2, 2, 2]})
    changed = pd.DataFrame(
        {"id": ["a", "a", "b", "c"], "encoded_pixels": ["0 1", "2 1", "1 1", "-1"]}
    )
    cached = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    caplog.set_level(logging.DEBUG, logger="pneumothorax.runtime.incremental")
    image = ImageParams(size=(4, 4))

    def render(table: pd.DataFrame, rows: pd.DataFrame, incremental: dict | None) -> dict:
        mapper = file_mapper({"backend": "processes", "workers": 2}, incremental=incremental)
        try:
            return {
                k: v for chunk in render_masks(table, rows, image, mapper) for k, v in chunk.items()
            }
        finally:
            mapper.close()

    render(labels, runs, cached)
    assert "mask: 0 cached, 2 to compute" in caplog.text
    caplog.clear()
    rerun = render(more, changed, cached)
    # "b" changed: drawn; "a" is cached, and so is the new "c": its rows and shape are the
    # old "b"'s (a negative 2 x 2 image), and a mask is keyed by them, not by its id.
    assert "mask: 2 cached, 1 to compute" in caplog.text
    assert rerun == render(more, changed, None)
    b = np.asarray(Image.open(io.BytesIO(rerun["b"])))
    # "1 1" in a 2 x 2 image (column-major): pixel (row 1, column 0), doubled to 4 x 4.
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[2:, :2] = 255
    np.testing.assert_array_equal(b, expected)


def test_images_with_the_same_rows_and_shape_share_one_drawing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Five negatives and two images with the same region: two masks are drawn, seven
    saved, each the one its own rows give."""
    ids = ["n1", "p1", "n2", "n3", "p2", "n4", "n5"]
    labels = pd.DataFrame({"id": ids, "rows": [2] * 7, "columns": [2] * 7})
    rows = ["-1", "0 2", "-1", "-1", "0 2", "-1", "-1"]
    runs = pd.DataFrame({"id": ids, "encoded_pixels": rows})
    cached = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    caplog.set_level(logging.DEBUG, logger="pneumothorax.runtime.incremental")
    mapper = file_mapper({"backend": "processes", "workers": 2}, incremental=cached)
    try:
        masks = {
            k: v
            for chunk in render_masks(labels, runs, ImageParams(size=(4, 4)), mapper)
            for k, v in chunk.items()
        }
    finally:
        mapper.close()
    assert "mask: 0 cached, 2 to compute" in caplog.text
    assert sorted(masks) == sorted(ids)
    # "0 2" in a 2 x 2 image (column-major): the left column, doubled to 4 x 4.
    left = np.zeros((4, 4), dtype=np.uint8)
    left[:, :2] = 255
    for image_id, value in zip(ids, rows, strict=True):
        pixels = np.asarray(Image.open(io.BytesIO(masks[image_id])))
        np.testing.assert_array_equal(pixels, left if value == "0 2" else np.zeros((4, 4)))


@pytest.mark.parametrize("second_shape", [(2, 2), (3, 3)])
def test_an_image_listed_twice_in_the_labels_stops_the_stage(
    second_shape: tuple[int, int],
) -> None:
    """Two label-table rows for one id would give one file name two masks (or, when the
    second shares another image's drawing, leave that image without one): refused."""
    rows, columns = second_shape
    labels = pd.DataFrame({"id": ["a", "b", "a"], "rows": [2, 2, rows], "columns": [2, 2, columns]})
    runs = pd.DataFrame({"id": ["a", "b"], "encoded_pixels": ["-1", "-1"]})
    with pytest.raises(ValueError, match=r"image a has more than one row in the labels table"):
        list(render_masks(labels, runs, ImageParams(size=(4, 4)), file_mapper()))
