"""Nodes of the labels pipeline: SIIM's train-rle.csv checked against the converted images."""

from __future__ import annotations

import pandas as pd

from pneumothorax.config.params import LabelsParams
from pneumothorax.labels.table import LabelFileError, check_labels, normalise_columns
from pneumothorax.runtime.rejections import REJECTED_COLUMNS, BadInputError
from pneumothorax.runtime.run_metrics import MetricsDict


def check_label_file(
    train_rle: pd.DataFrame,
    train_metadata: pd.DataFrame,
    labels: LabelsParams,
    strict: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Match every label row to a converted image; list the rows and images that do not fit.

    Args:
        train_rle: ``train-rle.csv`` as read, every cell a string.
        train_metadata: The metadata table (``id``, ``Rows``, ``Columns`` are used).
        labels: The ``labels`` params (its ``path`` names the file in the rejected list).
        strict: Stop at the first problem instead of listing it.

    Returns:
        The per-image labels, the usable label rows, the rejected list and run metrics.

    Raises:
        BadInputError: The file's header is not SIIM's, or ``strict`` and a row is bad.
    """
    source = labels.path
    try:
        table = normalise_columns(train_rle, source)
    except LabelFileError as err:
        raise BadInputError(str(err)) from None
    # A run that rejected every file has a table of ids only (no Rows/Columns columns).
    shapes = (
        {
            str(image_id): (int(rows), int(columns))
            for image_id, rows, columns in zip(
                train_metadata["id"], train_metadata["Rows"], train_metadata["Columns"], strict=True
            )
        }
        if len(train_metadata)
        else {}
    )
    checked = check_labels(table, shapes, source)
    if checked.rejected and strict:
        first = checked.rejected[0]
        raise BadInputError(
            f"labels: {first['path']}: {first['reason']} (strict: true stops at the first bad row)"
        )
    rejected = pd.DataFrame.from_records(checked.rejected, columns=list(REJECTED_COLUMNS))
    positives = int(checked.labels["pneumothorax"].sum())
    values = {
        "images_labelled": float(len(checked.labels)),
        "images_positive": float(positives),
        "images_negative": float(len(checked.labels) - positives),
        "rows_rejected": float(len(rejected)),
    }
    metrics = {name: {"value": value, "step": 0} for name, value in values.items()}
    return checked.labels, checked.runs, rejected, metrics
