"""Mask images: 0/255, nearest-neighbour, in the geometry of the converted images."""

from __future__ import annotations

import numpy as np
import pytest

from pneumothorax.dicom.render import resize
from pneumothorax.labels.masks import mask_image
from pneumothorax.labels.rle import decode, encode


def test_mask_at_its_own_size_is_the_decoded_runs_in_0_and_255() -> None:
    # 3 x 4 image, "1 3 4 3": pixels 1, 2, 3 and 8, 9, 10 counted down the columns.
    image = mask_image(["1 3 4 3"], (3, 4), (4, 3))
    assert image.mode == "L"
    assert image.size == (4, 3)
    np.testing.assert_array_equal(
        np.asarray(image),
        [[0, 255, 0, 255], [255, 0, 0, 255], [255, 0, 255, 0]],
    )


def test_nearest_neighbour_doubling_repeats_each_pixel() -> None:
    # 2 x 2 image, pixel 1 = (row 1, column 0); doubled, it becomes the lower-left 2 x 2.
    mask = np.asarray(mask_image(["1 1"], (2, 2), (4, 4)))
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[2:, :2] = 255
    np.testing.assert_array_equal(mask, expected)


def test_a_negative_is_all_zeros_at_the_requested_size() -> None:
    mask = np.asarray(mask_image(["-1"], (1024, 1024), (64, 48)))
    assert mask.shape == (48, 64)
    assert not mask.any()


def test_shrinking_keeps_two_values() -> None:
    runs = ["0 300", "500 17"]
    values = set(np.unique(np.asarray(mask_image(runs, (32, 32), (7, 5)))))
    assert values <= {0, 255}


@pytest.mark.parametrize(("shape", "size"), [((40, 20), (16, 16)), ((20, 40), (16, 12))])
def test_letterboxed_masks_cover_exactly_the_pixels_of_the_letterboxed_image(
    shape: tuple[int, int], size: tuple[int, int]
) -> None:
    # A fully marked image must fill exactly where render.resize puts a white image.
    rows, columns = shape
    mask = np.asarray(mask_image([f"0 {rows * columns}"], shape, size, keep_aspect=True))
    picture = np.asarray(resize(np.full(shape, 255, dtype=np.uint8), size, keep_aspect=True))
    np.testing.assert_array_equal(mask > 0, picture > 0)


def test_overlapping_rows_of_a_non_square_image_match_the_decoded_union() -> None:
    # decode (a bool array set run by run) is the reference for every pixel.
    rng = np.random.default_rng(2)
    shape = (13, 29)
    runs = [encode(rng.random(shape) < 0.3) for _ in range(3)]
    mask = np.asarray(mask_image(runs, shape, (29, 13)))
    np.testing.assert_array_equal(mask, decode(runs, shape).astype(np.uint8) * 255)


def test_any_region_at_any_size_is_the_row_major_image_resized() -> None:
    """The mask is resized before it leaves SIIM's column-major order; the reference is the
    plain way: the row-major image of the decoded pixels, resized nearest-neighbour."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for _ in range(300):
        rows, columns = (int(n) for n in rng.integers(1, 60, 2))
        pixels = rng.random((rows, columns)) < rng.random()
        if not pixels.any():
            continue
        size = (int(rng.integers(1, 80)), int(rng.integers(1, 80)))
        plain = np.ascontiguousarray(decode([encode(pixels)], (rows, columns))) * np.uint8(255)
        expected = Image.fromarray(plain, mode="L").resize(size, Image.Resampling.NEAREST)
        np.testing.assert_array_equal(
            np.asarray(mask_image([encode(pixels)], (rows, columns), size)), np.asarray(expected)
        )
