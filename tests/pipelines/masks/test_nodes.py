"""The masks node: a PNG per labelled image, negatives all zeros, at image.size."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from pneumothorax.config.params import ImageParams
from pneumothorax.pipelines.masks.nodes import render_masks


def test_one_png_per_labelled_image() -> None:
    labels = pd.DataFrame({"id": ["a", "b"], "rows": [2, 2], "columns": [2, 2]})
    runs = pd.DataFrame({"id": ["a", "a", "b"], "encoded_pixels": ["0 1", "2 1", "-1"]})
    masks = render_masks(labels, runs, ImageParams(size=(4, 4)))
    assert sorted(masks) == ["a", "b"]
    a = np.asarray(Image.open(io.BytesIO(masks["a"]())))
    b = Image.open(io.BytesIO(masks["b"]()))
    # "0 1" and "2 1" in a 2 x 2 image: pixels 0 and 2 = the top row, doubled to 4 x 4.
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[:2, :] = 255
    np.testing.assert_array_equal(a, expected)
    assert b.mode == "L"
    assert b.size == (4, 4)
    assert not np.asarray(b).any()
