"""The labels node: SIIM's file against the metadata table, problems listed or fatal (strict)."""

from __future__ import annotations

import pandas as pd
import pytest

from pneumothorax.config.params import LabelsParams
from pneumothorax.pipelines.labels.nodes import check_label_file
from pneumothorax.runtime.rejections import BadInputError

PARAMS = LabelsParams(path="data/01_raw/train-rle.csv")
METADATA = pd.DataFrame(
    {"id": ["a1", "a2", "a3"], "Rows": [3] * 3, "Columns": [4] * 3, "PatientID": ["p", "q", "r"]}
)


def _rle(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ImageId", " EncodedPixels"])


def test_labels_runs_rejected_and_metrics() -> None:
    labels, runs, rejected, metrics = check_label_file(
        _rle([("a1", " 1 3"), ("a1", " 8 3"), ("a2", " -1"), ("a3", " 1 2 3")]),
        METADATA,
        PARAMS,
        strict=False,
    )
    assert labels[["id", "pneumothorax", "regions", "area"]].values.tolist() == [
        ["a1", 1, 2, 6],
        ["a2", 0, 0, 0],
    ]
    assert len(runs) == 3
    assert rejected.values.tolist() == [
        ["a3", "data/01_raw/train-rle.csv:5", "odd number of values (3): runs are (start, "
         "length) pairs"],
    ]  # fmt: skip
    assert {name: entry["value"] for name, entry in metrics.items()} == {
        "images_labelled": 2,
        "images_positive": 1,
        "images_negative": 1,
        "rows_rejected": 1,
    }


def test_strict_stops_at_the_first_bad_row_naming_file_and_line() -> None:
    with pytest.raises(BadInputError, match=r"train-rle.csv:3: no converted image has this"):
        check_label_file(
            _rle([("a1", " -1"), ("zz", " -1"), ("a2", " -1"), ("a3", " -1")]),
            METADATA,
            PARAMS,
            strict=True,
        )


def test_a_file_that_is_not_siims_is_one_clear_error() -> None:
    with pytest.raises(BadInputError, match="expected the columns 'ImageId, EncodedPixels'"):
        check_label_file(pd.DataFrame({"id": ["a1"]}), METADATA, PARAMS, strict=False)
