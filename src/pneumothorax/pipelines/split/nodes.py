"""Nodes of the split pipeline: patients to train and validation parts, stratified by label."""

from __future__ import annotations

import logging

import pandas as pd

from pneumothorax.config.params import SplitParams
from pneumothorax.model.folds import assign_folds

logger = logging.getLogger(__name__)

#: Columns of split.csv (no patient column: the grouping stays inside this node).
SPLIT_COLUMNS = ("id", "pneumothorax", "split")


def split_patients(
    labels: pd.DataFrame, train_metadata: pd.DataFrame, split: SplitParams
) -> pd.DataFrame:
    """Assign each labelled image to ``train`` or ``valid``, all of a patient's images together.

    The patients are cut as scikit-learn's ``StratifiedGroupKFold`` cuts them
    (:func:`~pneumothorax.model.folds.assign_folds`): into ``round(1 / valid_fraction)``
    folds with about the same share of positives each; the first fold is the validation
    part. Patients are told apart by (0010,0020) Patient ID as the
    metadata table holds it (a pseudonym with ``metadata.deid``); an image without one
    counts as its own patient.

    Args:
        labels: Per-image labels (``id``, ``pneumothorax``).
        train_metadata: The metadata table (``id``, ``PatientID``).
        split: The ``split`` params (``valid_fraction``, ``seed``).

    Returns:
        ``id, pneumothorax, split`` sorted by id.

    With fewer patients than folds, or each class smaller than the folds (a handful of
    images), every image is ``train``, with a warning: the model has no validation part.
    """
    table = labels[["id", "pneumothorax"]].sort_values("id", ignore_index=True)
    patient_of = (
        dict(zip(train_metadata["id"], train_metadata["PatientID"], strict=True))
        if "PatientID" in train_metadata
        else {}
    )
    groups = [
        str(patient) if isinstance(patient, str) and patient else f"image:{image_id}"
        for image_id in table["id"]
        for patient in [patient_of.get(image_id)]
    ]
    table["split"] = "train"
    if table.empty:
        return table[list(SPLIT_COLUMNS)]
    try:
        if len(set(groups)) < split.folds:
            raise ValueError(f"{len(set(groups))} patient(s) for {split.folds} folds")
        smallest = int(table["pneumothorax"].value_counts().min())
        if smallest < split.folds:
            logger.warning(
                "split: the smaller class has %d image(s) for %d folds: their shares of "
                "positives differ (add images or raise split.valid_fraction)",
                smallest,
                split.folds,
            )
        fold = assign_folds(table["pneumothorax"].to_numpy(), groups, split.folds, split.seed)
    except ValueError as err:  # too few members of each class, or of patients
        logger.warning(
            "split: cannot cut %d image(s) into %d folds (%s): every image is for training, "
            "none for validation (add images or raise split.valid_fraction)",
            len(table),
            split.folds,
            err,
        )
        return table[list(SPLIT_COLUMNS)]
    table.loc[fold == 0, "split"] = "valid"
    counts = table.groupby("split")["pneumothorax"].agg(["size", "sum"])
    logger.info(
        "split: %s",
        ", ".join(
            f"{name} {row['size']} ({row['sum']} positive)" for name, row in counts.iterrows()
        ),
    )
    return table[list(SPLIT_COLUMNS)]
