"""The classifier's image features: cell statistics of grey level and edge strength.

Pure NumPy, without scikit-learn: the model stage's workers compute them one PNG at a
time, and importing scikit-learn there cost each worker about a second (measured with
py-spy on the benchmark's 10,819 PNGs). :class:`pneumothorax.model.classifier.CellFeatures`
is the scikit-learn face of the same function.

Each image is cut into ``cells`` x ``cells`` cells; per cell the mean and the maximum of
the grey level and of the edge strength (the larger absolute difference to the right or
lower neighbour pixel), in float32 on the scale 0-1: the published model's arithmetic.
Exact integer sums were faster (0.23 against 0.36 ms per 256 px image) but gave another
model when OpenBLAS chose its own kernel instead of the Haswell one on the same CPU: the
fitted coefficients move by up to 1e-8 between kernels, and two of 256 then rounded to
other 8-digit values (:func:`~pneumothorax.model.classifier.round_coefficients`), so the
model's bytes and dvc.lock changed.
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
    full_scale = _FULL_SCALE.get(images.dtype.newbyteorder("="))  # big-endian uint16 too
    if full_scale is not None:
        images = np.asarray(images, dtype=np.float32) / np.float32(full_scale)
    elif images.dtype.kind == "f":
        images = np.asarray(images, dtype=np.float32)
    else:
        raise ValueError(f"expected uint8, uint16 or float images, got {images.dtype}")
    edges = np.maximum(
        np.abs(np.diff(images, axis=2))[:, :-1, :], np.abs(np.diff(images, axis=1))[:, :, :-1]
    )
    features = []
    for plane in (images[:, :-1, :-1], edges):
        # Whole cells only: the last few rows/columns are dropped.
        rows, cols = (height - 1) // cells, (width - 1) // cells
        blocks = plane[:, : rows * cells, : cols * cells].reshape(n, cells, rows, cells, cols)
        features += [blocks.mean(axis=(2, 4)), blocks.max(axis=(2, 4))]
    # float64 for the fit: in float32 the optimiser stops ~1e-4 short of the optimum, at a
    # point that depends on the CPU's BLAS kernel.
    return np.concatenate([f.reshape(n, -1) for f in features], axis=1).astype(np.float64)
