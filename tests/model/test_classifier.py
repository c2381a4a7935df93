"""The baseline classifier: its features by hand, its metrics against textbook values."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from pneumothorax.model.classifier import CellFeatures, build_classifier, evaluate


def test_cell_features_by_hand() -> None:
    # One 5 x 5 image, 2 x 2 cells of 2 x 2 pixels (the last row and column only feed
    # the differences). A single bright pixel at (row 1, column 1).
    image = np.zeros((1, 5, 5), dtype=np.float32)
    image[0, 1, 1] = 1.0
    features = CellFeatures(cells=2).transform(image)
    assert features.shape == (1, 16)
    means, maxima, edge_means, edge_maxima = features.reshape(4, 2, 2)
    np.testing.assert_allclose(means, [[0.25, 0], [0, 0]])
    np.testing.assert_allclose(maxima, [[1, 0], [0, 0]])
    # Edge strength at (r, c) = max(|x[r, c+1] - x[r, c]|, |x[r+1, c] - x[r, c]|): 1 at
    # (0, 1) (below it), (1, 0) (right of it) and (1, 1) itself -> 3 of the first cell's
    # 4 pixels; the others see no change.
    np.testing.assert_allclose(edge_means, [[0.75, 0], [0, 0]])
    np.testing.assert_allclose(edge_maxima, [[1, 0], [0, 0]])


def test_cell_features_refuse_images_smaller_than_the_grid() -> None:
    with pytest.raises(ValueError, match="too small for 8 cells"):
        CellFeatures(cells=8).transform(np.zeros((1, 8, 8)))


def test_evaluate_against_hand_computed_auc_and_f1() -> None:
    labels = [0, 0, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.9]
    metrics, curve = evaluate(labels, scores, threshold=0.5)
    # Of the 4 (positive, negative) pairs, 3 rank the positive higher: AUC 3/4.
    assert metrics["auc"] == pytest.approx(0.75)
    # Called positive: 0.6 (wrong) and 0.9 (right): precision 1/2, recall 1/2, F1 1/2.
    assert metrics["f1"] == pytest.approx(0.5)
    assert (metrics["positives"], metrics["negatives"]) == (2, 2)
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1


def test_without_both_classes_there_is_no_auc_but_still_an_f1() -> None:
    metrics, curve = evaluate([1, 1], [0.2, 0.8], threshold=0.5)
    # One of two positives found, no false positive: precision 1, recall 1/2, F1 2/3.
    assert metrics == {"f1": pytest.approx(2 / 3), "positives": 2, "negatives": 0}
    assert len(curve["fpr"]) == 0


def test_the_classifier_separates_a_thin_line_at_full_resolution() -> None:
    # Positives carry a one-pixel bright line somewhere in the left half: visible to the
    # per-cell edge maxima, not to the means a 4x smaller image would keep.
    rng = np.random.default_rng(0)
    images = rng.normal(0.5, 0.01, size=(40, 32, 32)).astype(np.float32)
    labels = np.arange(40) % 2
    for index in np.flatnonzero(labels):
        column = rng.integers(2, 14)
        images[index, 4:28, column] += 0.3
    model = build_classifier(cells=4, c=1.0).fit(images[:30], labels[:30])
    metrics, _ = evaluate(labels[30:], model.predict_proba(images[30:])[:, 1], 0.5)
    assert metrics["auc"] == 1.0


def test_round_coefficients_keeps_eight_significant_digits() -> None:
    # By hand: 0.123456789123 -> 0.12345679; -98765.4321987 -> -98765.432; 0 stays 0;
    # 1.5e-7 (already short) is unchanged.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from pneumothorax.model.classifier import round_coefficients

    logistic = LogisticRegression()
    logistic.coef_ = np.array([[0.123456789123, -98765.4321987, 0.0, 1.5e-7]])
    logistic.intercept_ = np.array([2.718281828459])
    round_coefficients(Pipeline([("logistic", logistic)]))
    np.testing.assert_allclose(
        logistic.coef_, [[0.12345679, -98765.432, 0.0, 1.5e-7]], rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(logistic.intercept_, [2.7182818], rtol=1e-12, atol=0)


def _correlated_problem(rows: int = 3000, columns: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Features built from 8 hidden ones plus a little noise (ill-conditioned, like cell
    statistics of neighbouring cells), labels from the first hidden one."""
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(rows, 8))
    features = hidden @ rng.normal(size=(8, columns)) + 0.05 * rng.normal(size=(rows, columns))
    labels = (hidden[:, 0] + 0.5 * rng.normal(size=rows) > 0.6).astype(int)
    return features, labels


def test_the_fit_stops_at_the_optimum() -> None:
    """The gradient of the fitted objective, by hand, is at rounding-error level."""
    features, labels = _correlated_problem()
    model = build_classifier(cells=8, c=1.0)
    model[1:].fit(features, labels)
    scaled, logistic = model[1].transform(features), model[-1]
    # class_weight="balanced": weight n / (2 * count of the class) per row.
    weights = len(labels) / (2 * np.bincount(labels)[labels])
    errors = weights * (
        1 / (1 + np.exp(-(scaled @ logistic.coef_[0] + logistic.intercept_[0]))) - labels
    )
    # Objective: sum(weights * log loss) + |coef|^2 / (2 C), C = 1; its gradient per weight.
    gradient = np.append(scaled.T @ errors + logistic.coef_[0], errors.sum()) / weights.sum()
    assert np.abs(gradient).max() < 1e-12  # lbfgs, stopping on its loss change: ~4e-8


@pytest.mark.skipif(platform.machine() != "x86_64", reason="OpenBLAS kernel names are x86's")
def test_the_rounded_model_is_the_same_under_another_blas_kernel() -> None:
    """Another CPU's BLAS kernel (forced with OPENBLAS_CORETYPE) gives the same model bytes."""
    import os
    import subprocess
    import sys

    script = (
        "from threadpoolctl import threadpool_info\n"
        "from tests.model.test_classifier import _correlated_problem\n"
        "from pneumothorax.model.classifier import build_classifier, round_coefficients\n"
        "model = build_classifier(cells=8, c=1.0)\n"
        "model[1:].fit(*_correlated_problem())\n"
        "round_coefficients(model)\n"
        "blas = [i for i in threadpool_info() if i['internal_api'] == 'openblas']\n"
        "kernels = ','.join(sorted({str(i.get('architecture')) for i in blas})) or 'none'\n"
        "logistic = model[-1]\n"
        "print(kernels, logistic.coef_.tobytes().hex(), logistic.intercept_.tobytes().hex())\n"
    )

    def fit(kernel: str | None) -> tuple[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        if kernel:
            env["OPENBLAS_CORETYPE"] = kernel
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return out[0], " ".join(out[1:])

    default_kernel, default_model = fit(None)
    # Prescott: SSE3 only, which every x86-64 CPU OpenBLAS supports runs.
    prescott_kernel, prescott_model = fit("Prescott")
    if default_kernel == prescott_kernel:
        pytest.skip(f"OpenBLAS uses {default_kernel} here anyway: no second kernel to compare")
    assert prescott_model == default_model  # lbfgs: every one of the 257 values differed
