"""Nodes of the model pipeline: the baseline classifier on the PNG layer at ``image.size``."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pneumothorax.config.params import ModelParams
from pneumothorax.dicom.results import FileResult
from pneumothorax.model.features import cell_features
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.mapper import FileMapper
from pneumothorax.runtime.run_metrics import MetricsDict

logger = logging.getLogger(__name__)

#: A fitted scikit-learn ``Pipeline``. scikit-learn (and the model module, built on it) is
#: imported inside the nodes that use it: Kedro imports every pipeline in every stage, and
#: scikit-learn would add about half a second to the start-up of the six stages that never
#: touch the model (measured after MLflow, which imports SciPy anyway). Its classes cannot
#: annotate the nodes without that import (Kedro resolves the annotations at start-up),
#: and scikit-learn ships no types anyway.
Classifier = Any

#: PNG without a "Software" chunk: the same curve always gives the same bytes.
_PNG_METADATA = {"Software": None}


def extract_features(
    img_train: Mapping[str, FileRef], split: pd.DataFrame, model: ModelParams,
    file_mapper: FileMapper,
) -> pd.DataFrame:  # fmt: skip
    """The features step's output for every image of the split, one PNG at a time.

    The workers turn each PNG into its ``4 * cells**2`` features, so the stage holds
    features (2 KB per image at 8 cells), never a stack of images. They are cached by the
    PNG's bytes: a run that changes only ``model.c`` or ``model.threshold`` decodes nothing.

    Args:
        img_train: The converted PNGs, by id.
        split: ``id, pneumothorax, split`` per labelled image.
        model: The ``model`` params (``cells``).
        file_mapper: The per-file runtime (executor, incremental cache, progress).

    Returns:
        float64 features indexed by id, in the split's row order.

    Raises:
        KeyError: An id of the split has no PNG (the split is older than the images).
    """
    ids = [str(image_id) for image_id in split["id"]]
    missing = [image_id for image_id in ids if image_id not in img_train]
    if missing:
        raise KeyError(
            f"model: {len(missing)} labelled image(s) have no PNG in img_train, e.g. "
            f"{missing[0]}; rerun the images stage (image.frames must be 'first')"
        )
    results = file_mapper.map(
        partial(_image_features, cells=model.cells), [img_train[i] for i in ids],
        stage="model", kind="cell_features", code=__name__, params={"cells": model.cells},
        encode=np.ndarray.tobytes, decode=partial(np.frombuffer, dtype=np.float64),
    )  # fmt: skip
    # The cache yields its hits first: put the rows back in the split's order.
    rows = {result.id: result.value for result in results}
    width = 4 * model.cells**2
    return pd.DataFrame(
        np.stack([rows[i] for i in ids]) if ids else np.zeros((0, width)), index=ids
    )


def train_classifier(features: pd.DataFrame, split: pd.DataFrame, model: ModelParams) -> Classifier:
    """Fit the classifier on the ``train`` images of the split, at the PNGs' own size.

    Args:
        features: :func:`extract_features` of the split's images.
        split: ``id, pneumothorax, split`` per labelled image.
        model: The ``model`` params.

    Returns:
        The fitted scikit-learn pipeline (features, scaling, logistic regression).
    """
    from sklearn.dummy import DummyClassifier

    from pneumothorax.model.classifier import build_classifier, round_coefficients

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
    # The features step is stateless and its output is given: fit the rest (the steps are
    # shared, so the whole pipeline is then fitted).
    classifier[1:].fit(_rows(features, train["id"]), labels)
    return round_coefficients(classifier)


def evaluate_classifier(
    classifier: Classifier, features: pd.DataFrame, split: pd.DataFrame, model: ModelParams
) -> tuple[MetricsDict, pd.DataFrame, bytes]:
    """Score the ``valid`` images: AUC and F1, the ROC curve as points and as a picture.

    Args:
        classifier: The fitted model.
        features: :func:`extract_features` of the split's images.
        split: ``id, pneumothorax, split`` per labelled image.
        model: The ``model`` params (``threshold`` for F1).

    Returns:
        The metrics, the ROC points (``fpr, tpr, threshold``) and the ROC curve as PNG bytes.
    """
    from pneumothorax.model.classifier import evaluate

    valid = split[split["split"] == "valid"]
    rows = _rows(features, valid["id"])
    scores = np.zeros(len(rows))
    classes = list(getattr(classifier[-1], "classes_", []))  # none: untrained
    if len(rows) and 1 in classes:  # a constant model may know "no pneumothorax" only
        scores = classifier[1:].predict_proba(rows)[:, classes.index(1)]
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


def _rows(features: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """The feature rows of ``ids``, in their order, as one C-ordered float64 array."""
    rows = features.loc[[str(image_id) for image_id in ids]].to_numpy(dtype=np.float64)
    # A DataFrame gives its values column-major; the scaler's variance summed in that order
    # differs in the last bits, and so would the model's bytes.
    return np.ascontiguousarray(rows)


def _image_features(item: tuple[str, Callable[[], Image.Image]], cells: int) -> FileResult:
    """Per-file work (on a worker): one PNG's grey levels (8 or 16 bits) to its cell features."""
    image_id, load = item
    with load() as image:
        grey = image if image.mode in ("L", "I;16") else image.convert("L")
        array = np.asarray(grey)
    return FileResult(image_id, cell_features(array[np.newaxis], cells)[0])


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
