"""The cell features by hand, at each pixel type the PNG layer has."""

from __future__ import annotations

import numpy as np
import pytest

from pneumothorax.model.features import cell_features


def _bright_pixel(dtype: type | str, value: float) -> np.ndarray:
    # One 5 x 5 image, 2 x 2 cells of 2 x 2 pixels (the last row and column only feed the
    # differences), a single pixel of ``value`` at (row 1, column 1).
    image = np.zeros((1, 5, 5), dtype=dtype)
    image[0, 1, 1] = value
    return image


@pytest.mark.parametrize(
    ("dtype", "full"),
    [(np.uint8, 255), (np.uint16, 65535), (">u2", 65535), (np.float32, 1.0), (">f4", 1.0)],
)
def test_features_by_hand_at_full_scale(dtype: type | str, full: float) -> None:
    means, maxima, edge_means, edge_maxima = cell_features(
        _bright_pixel(dtype, full), cells=2
    ).reshape(4, 2, 2)
    # Grey: the first cell holds 1 of 4 pixels at full scale.
    assert means.tolist() == [[0.25, 0], [0, 0]]
    assert maxima.tolist() == [[1, 0], [0, 0]]
    # Edge strength at (r, c) = max(|x[r, c+1] - x[r, c]|, |x[r+1, c] - x[r, c]|): full at
    # (0, 1) (the pixel is below it), (1, 0) (right of it) and (1, 1): 3 of the first
    # cell's 4 pixels.
    assert edge_means.tolist() == [[0.75, 0], [0, 0]]
    assert edge_maxima.tolist() == [[1, 0], [0, 0]]


def test_integer_pixels_give_the_features_of_the_same_image_scaled_to_0_1() -> None:
    """A worker passes the PNG's integers; the model, once saved, is given floats in [0, 1]:
    both must see the same features, bit for bit."""
    rng = np.random.default_rng(0)
    for dtype, full in ((np.uint8, 255), (np.uint16, 65535)):
        image = rng.integers(0, full + 1, (2, 20, 17)).astype(dtype)
        scaled = image.astype(np.float32) / np.float32(full)
        np.testing.assert_array_equal(cell_features(image, 4), cell_features(scaled, 4))


def test_a_stack_gives_each_image_its_own_row() -> None:
    stack = np.concatenate([_bright_pixel(np.uint8, 255), np.zeros((1, 5, 5), np.uint8)])
    features = cell_features(stack, cells=2)
    assert features.shape == (2, 16)
    assert features.dtype == np.float64
    np.testing.assert_array_equal(features[0], cell_features(stack[:1], cells=2)[0])
    assert not features[1].any()


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((5, 5), np.uint8), "expected images of shape"),
        (np.zeros((1, 8, 8), np.uint8), "too small for 8 cells"),
        (np.zeros((1, 9, 9), np.int16), "expected uint8, uint16 or float images"),
    ],
)
def test_refuses_what_is_not_a_stack_of_grey_images(images: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cell_features(images, cells=8)
