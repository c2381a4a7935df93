"""The classifier's image features: cell statistics of grey level and edge strength.

Pure NumPy, without scikit-learn: the model stage's workers compute them one PNG at a
time, and importing scikit-learn there cost each worker about a second (measured with
py-spy on the benchmark's 10,819 PNGs). :class:`pneumothorax.model.classifier.CellFeatures`
is the scikit-learn face of the same function.

Each image is cut into ``cells`` x ``cells`` cells; per cell the mean and the maximum of
the grey level and of the edge strength (the larger absolute difference to the right or
lower neighbour pixel). Integer images are summed exactly (int64) and divided once, so the
features are the same on every CPU, whatever the order of its vector sums.
"""

from __future__ import annotations

import numpy as np

#: Full scale of each integer pixel type: features are in [0, 1] whatever the bit depth.
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def cell_features(images: np.ndarray, cells: int) -> np.ndarray:
    """The ``(n, 4 * cells**2)`` float64 features of a stack of greyscale images.

    Args:
        images: ``(n, height, width)``, uint8 (0-255), uint16 (0-65535) or floats in [0, 1].
        cells: Cells per side.

    Raises:
        ValueError: Not a stack of 2-D images, another integer type, or fewer pixels per
            side than cells + 1.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (n, height, width), got {images.shape}")
    n, height, width = images.shape
    if min(height, width) <= cells:
        raise ValueError(f"images of {width}x{height} px are too small for {cells} cells")
    accumulate: type[np.floating] | type[np.integer]
    if images.dtype.kind == "f":
        values, accumulate, scale = images.astype(np.float64), np.float64, 1.0
    elif images.dtype in _FULL_SCALE:
        values, accumulate, scale = images.astype(np.int32), np.int64, _FULL_SCALE[images.dtype]
    else:
        raise ValueError(f"expected uint8, uint16 or float images, got {images.dtype}")
    grey = values[:, :-1, :-1]
    edges = np.maximum(np.abs(values[:, :-1, 1:] - grey), np.abs(values[:, 1:, :-1] - grey))
    # Whole cells only: the last few rows/columns are dropped.
    rows, cols = (height - 1) // cells, (width - 1) // cells
    features = []
    for plane in (grey, edges):
        blocks = plane[:, : rows * cells, : cols * cells].reshape(n, cells, rows, cells, cols)
        sums = blocks.sum(axis=(2, 4), dtype=accumulate)
        features += [sums / (rows * cols) / scale, blocks.max(axis=(2, 4)) / scale]
    return np.concatenate([f.reshape(n, -1) for f in features], axis=1).astype(np.float64)
