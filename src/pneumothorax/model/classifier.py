"""The baseline pneumothorax classifier: cell statistics of the full-size image
(:mod:`pneumothorax.model.features`), then a logistic regression (scikit-learn; no Kedro
here).

Differences between neighbour pixels see detail at the PNG's own resolution: a thin
pleural line that a 256 px image still shows is averaged away at 64 px, which is what
makes the image size change the model's quality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pneumothorax.model.features import cell_features


class CellFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: greyscale images ``(n, height, width)`` to cell statistics.

    Args:
        cells: Cells per side; the features are ``4 * cells**2`` per image.
    """

    def __init__(self, cells: int = 8) -> None:
        self.cells = cells

    def fit(self, images: np.ndarray, labels: Sequence[int] | None = None) -> CellFeatures:
        """Nothing to learn; returns self."""
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """The ``(n, 4 * cells**2)`` features of :func:`~pneumothorax.model.features.cell_features`.

        Args:
            images: ``(n, height, width)``, uint8 (0-255), uint16 (0-65535) or floats in
                [0, 1].

        Raises:
            ValueError: Not a stack of 2-D images of those types, or fewer pixels per side
                than cells + 1.
        """
        return cell_features(images, self.cells)


def build_classifier(cells: int, c: float) -> Pipeline:
    """The untrained model: cell features, standardised, into a logistic regression.

    Classes are weighted by their inverse frequency (about one positive in three), so the
    0.5 threshold that F1 uses is not biased towards "no pneumothorax".
    """
    return Pipeline(
        [
            ("features", CellFeatures(cells=cells)),
            ("scale", StandardScaler()),
            # Newton's method to a tight tolerance stops at the optimum itself (gradient at
            # rounding-error level), not wherever this CPU's BLAS kernel led the optimiser.
            # lbfgs stopped on its loss change, its gradient 1e7 times Newton's: on the
            # benchmark's 10,819 files, 167-221 of the 257 rounded coefficients differed
            # between OpenBLAS kernels (so the model's bytes and dvc.lock did); Newton's
            # agreed, in 13 steps, 2-4x faster (docs/benchmarks.md).
            (
                "logistic",
                LogisticRegression(
                    C=c,
                    class_weight="balanced",
                    solver="newton-cholesky",
                    max_iter=1000,
                    tol=1e-10,
                ),
            ),
        ]
    )


def round_coefficients(classifier: Pipeline, digits: int = 8) -> Pipeline:
    """Round the fitted logistic regression's coefficients to ``digits`` significant digits.

    Floating-point sums differ in their last bits between BLAS kernels (CPUs), so the same
    data would give a model whose bytes differ on another machine; rounded, they agree (and
    the scores computed from them), as DVC's hashes of the model folder and ROC must.

    Returns:
        ``classifier``, changed in place.
    """
    logistic = classifier[-1]
    for name in ("coef_", "intercept_"):
        if hasattr(logistic, name):
            values = getattr(logistic, name)
            setattr(logistic, name, _significant(values, digits).astype(values.dtype))
    return classifier


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    # numpy rounds to decimal places only; scale each value to its own magnitude first.
    magnitude = np.where(values == 0, 1.0, 10.0 ** np.floor(np.log10(np.abs(values) + 1e-300)))
    return np.round(values / magnitude, digits - 1) * magnitude


def evaluate(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """AUC, F1 and counts of a validation set, and its ROC curve.

    Args:
        labels: 1 for pneumothorax, 0 for none.
        scores: The predicted probabilities of pneumothorax.
        threshold: Probability from which an image is called positive (for F1).

    Returns:
        ``({"auc", "f1", "positives", "negatives"}, {"fpr", "tpr", "threshold"})``; without
        ``auc`` and with an empty curve when the set lacks positives or negatives (a tiny
        sample), where neither is defined.
    """
    truth = np.asarray(labels, dtype=int)
    probability = np.asarray(scores, dtype=float)
    metrics = {
        "f1": float(f1_score(truth, probability >= threshold, zero_division=0))
        if truth.size
        else 0.0,
        "positives": float(truth.sum()),
        "negatives": float((1 - truth).sum()),
    }
    if metrics["positives"] == 0 or metrics["negatives"] == 0:
        empty = np.zeros(0)
        return metrics, {"fpr": empty, "tpr": empty, "threshold": empty}
    fpr, tpr, thresholds = roc_curve(truth, probability)
    metrics["auc"] = float(roc_auc_score(truth, probability))
    return metrics, {"fpr": fpr, "tpr": tpr, "threshold": thresholds}
