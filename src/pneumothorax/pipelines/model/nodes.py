"""Nodes of the model pipeline: the baseline classifier on the PNG layer at ``image.size``."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from pneumothorax.config.params import ModelParams
from pneumothorax.model.classifier import build_classifier, evaluate, round_coefficients
from pneumothorax.runtime.run_metrics import MetricsDict

logger = logging.getLogger(__name__)

#: PNG without a "Software" chunk: the same curve always gives the same bytes.
_PNG_METADATA = {"Software": None}
#: Images turned into features at a time: SIIM's 10,675 images at 256 px would take 2.8 GB
#: as one float32 stack; a chunk of 256 takes 67 MB, and the features 1 KB per image.
_CHUNK = 256


def train_classifier(
    img_train: Mapping[str, Callable[[], Image.Image]],
    split: pd.DataFrame,
    model: ModelParams,
) -> Pipeline:
    """Fit the classifier on the ``train`` images of the split, at the PNGs' own size.

    Args:
        img_train: ``{id: load}`` of the converted PNGs.
        split: ``id, pneumothorax, split`` per labelled image.
        model: The ``model`` params.

    Returns:
        The fitted scikit-learn pipeline (features, scaling, logistic regression).
    """
    train = split[split["split"] == "train"]
    labels = train["pneumothorax"].to_numpy(dtype=int)
    classifier = build_classifier(model.cells, model.c)
    if not len(labels):
        # A run that rejected every file (or has no labels) still finishes, model included.
        logger.warning("model: no labelled image to train on: the model is left untrained")
        return classifier
    if len(set(labels)) < 2:
        # A logistic regression needs both classes; a handful of images may not have them.
        logger.warning(
            "model: the training part has %d image(s) of one class only: the model predicts "
            "the share of positives (too few labelled images)",
            len(labels),
        )
        classifier.set_params(logistic=DummyClassifier(strategy="prior"))
    # The features step is stateless: fit the rest on features computed a chunk at a time
    # (the steps are shared, so the whole pipeline is then fitted).
    classifier[1:].fit(_features(classifier, img_train, train["id"]), labels)
    return round_coefficients(classifier)


def evaluate_classifier(
    classifier: Pipeline,
    img_train: Mapping[str, Callable[[], Image.Image]],
    split: pd.DataFrame,
    model: ModelParams,
) -> tuple[MetricsDict, pd.DataFrame, bytes]:
    """Score the ``valid`` images: AUC and F1, the ROC curve as points and as a picture.

    Args:
        classifier: The fitted model.
        img_train: ``{id: load}`` of the converted PNGs.
        split: ``id, pneumothorax, split`` per labelled image.
        model: The ``model`` params (``threshold`` for F1).

    Returns:
        The metrics, the ROC points (``fpr, tpr, threshold``) and the ROC curve as PNG bytes.
    """
    valid = split[split["split"] == "valid"]
    features = _features(classifier, img_train, valid["id"])
    scores = np.zeros(len(features))
    classes = list(getattr(classifier[-1], "classes_", []))  # none: untrained
    if len(features) and 1 in classes:  # a constant model may know "no pneumothorax" only
        scores = classifier[1:].predict_proba(features)[:, classes.index(1)]
    values, curve = evaluate(valid["pneumothorax"].to_numpy(dtype=int), scores, model.threshold)
    if "auc" in values:
        logger.info("model: validation AUC %.3f, F1 %.3f", values["auc"], values["f1"])
    else:
        logger.warning(
            "model: the validation part has %d positive and %d negative image(s): no AUC "
            "or ROC curve (too few labelled images)",
            values["positives"],
            values["negatives"],
        )
    metrics = {name: {"value": round(value, 6), "step": 0} for name, value in values.items()}
    points = pd.DataFrame(
        {
            "fpr": np.round(curve["fpr"], 6),
            "tpr": np.round(curve["tpr"], 6),
            # roc_curve's first threshold is +inf ("nothing positive"): 1 reads better.
            "threshold": np.round(np.minimum(curve["threshold"], 1.0), 6),
        }
    )
    return metrics, points, _plot_roc(points, values.get("auc"))


def _features(
    classifier: Pipeline, img_train: Mapping[str, Callable[[], Image.Image]], ids: pd.Series
) -> np.ndarray:
    """The features step's output for ``ids``, images loaded :data:`_CHUNK` at a time."""
    ids = list(ids)
    parts = [
        classifier[0].transform(_stack(img_train, ids[start : start + _CHUNK]))
        for start in range(0, len(ids), _CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _stack(img_train: Mapping[str, Callable[[], Image.Image]], ids: list[str]) -> np.ndarray:
    """The images of ``ids`` as one ``(n, height, width)`` float32 array in [0, 1].

    Raises:
        KeyError: An id of the split has no PNG (the split is older than the images).
    """
    missing = [image_id for image_id in ids if image_id not in img_train]
    if missing:
        raise KeyError(
            f"model: {len(missing)} labelled image(s) have no PNG in img_train, e.g. "
            f"{missing[0]}; rerun the images stage (image.frames must be 'first')"
        )
    arrays = []
    for image_id in ids:
        with img_train[image_id]() as image:
            grey = image if image.mode in ("L", "I;16") else image.convert("L")
            array = np.asarray(grey, dtype=np.float32)
            arrays.append(array / (65535.0 if grey.mode == "I;16" else 255.0))
    return np.stack(arrays) if arrays else np.zeros((0, 1, 1), dtype=np.float32)


def _plot_roc(points: pd.DataFrame, auc: float | None) -> bytes:
    # Imported here: Kedro builds every pipeline at start-up, and matplotlib costs ~0.3 s.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    label = f"AUC {auc:.3f}" if auc is not None else "no AUC: one class only"
    axes.plot(points["fpr"], points["tpr"], drawstyle="steps-post", label=label)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(xlabel="False positive rate", ylabel="True positive rate", title="Validation ROC")
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata=_PNG_METADATA)
    return buffer.getvalue()
