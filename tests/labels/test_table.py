"""The label table against the images: usable rows in, every malformed row listed."""

from __future__ import annotations

import pandas as pd
import pytest

from pneumothorax.labels.table import LabelFileError, check_labels, normalise_columns

SOURCE = "data/01_raw/train-rle.csv"
# Two 3 x 4 images and one 2 x 2 image; ids as SIIM spells them (SOP Instance UIDs).
SHAPES = {"1.2.3": (3, 4), "1.2.4": (3, 4), "1.2.5": (2, 2)}


def _table(rows: list[tuple[str, str]]) -> pd.DataFrame:
    # As pandas reads SIIM's file: the header and each value keep their leading space.
    return normalise_columns(pd.DataFrame(rows, columns=["ImageId", " EncodedPixels"]), SOURCE)


def test_siims_header_with_its_leading_space_is_accepted() -> None:
    table = _table([("1.2.3", " -1")])
    assert list(table.columns) == ["ImageId", "EncodedPixels"]


def test_another_header_is_one_clear_error() -> None:
    with pytest.raises(LabelFileError, match=r"train-rle.csv: expected the columns 'ImageId, Enc"):
        normalise_columns(pd.DataFrame(columns=["id", "mask"]), SOURCE)


def test_several_rows_of_one_image_count_as_its_regions() -> None:
    checked = check_labels(
        _table([("1.2.3", " 1 3"), ("1.2.4", " -1"), ("1.2.3", " 8 3"), ("1.2.5", " 0 1")]),
        SHAPES,
        SOURCE,
    )
    assert checked.rejected == []
    labels = checked.labels.set_index("id")
    # 1.2.3: runs of 3 and 3 pixels in two rows; 1.2.5: one pixel.
    assert labels.loc["1.2.3"].to_dict() == {
        "pneumothorax": 1, "regions": 2, "area": 6, "rows": 3, "columns": 4,
    }  # fmt: skip
    assert labels.loc["1.2.4", "pneumothorax"] == 0
    assert labels.loc["1.2.4", "area"] == 0
    assert labels.loc["1.2.5", "area"] == 1
    assert checked.runs.values.tolist() == [
        ["1.2.3", "1 3"], ["1.2.3", "8 3"], ["1.2.4", "-1"], ["1.2.5", "0 1"],
    ]  # fmt: skip


def test_overlapping_regions_count_their_shared_pixels_once() -> None:
    # Pixels 1-3 and 2-5 of a 3 x 4 image: 1, 2, 3, 4, 5 -> 5 pixels, not 3 + 4.
    checked = check_labels(
        _table([("1.2.3", " 1 3"), ("1.2.3", " 2 4"), ("1.2.4", " -1"), ("1.2.5", " -1")]),
        SHAPES,
        SOURCE,
    )
    assert checked.rejected == []
    assert checked.labels.set_index("id").loc["1.2.3", "area"] == 5


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (" 1 3 4", "odd number of values"),
        (" 10 3", "ends at pixel 13, past the 3x4 image"),
        (" x", "other than non-negative integers"),
        (" 1\u00b2 3", "other than non-negative integers"),
        (" " + "1" * 4301 + " 3", "a number of 4301 digits"),
    ],
)
def test_a_malformed_row_rejects_its_image_and_names_the_line(value: str, reason: str) -> None:
    checked = check_labels(
        _table([("1.2.4", " -1"), ("1.2.3", " 1 3"), ("1.2.3", value), ("1.2.5", " -1")]),
        SHAPES,
        SOURCE,
    )
    assert list(checked.labels["id"]) == ["1.2.4", "1.2.5"]
    assert "1.2.3" not in set(checked.runs["id"])
    [entry] = checked.rejected
    # Line 1 is the header: the third data row is line 4.
    assert entry["id"] == "1.2.3"
    assert entry["path"] == f"{SOURCE}:4"
    assert reason in entry["reason"]


def test_unknown_ids_missing_labels_and_contradictions_are_listed_not_fatal() -> None:
    rows = [
        ("9.9.9", " -1"),  # line 2: no such image
        ("", " 1 1"),  # line 3: no ImageId
        ("1.2.3", " -1"),  # line 4
        ("1.2.3", " 1 1"),  # line 5: -1 and a region for one image
        ("1.2.4", " 2 2"),  # line 6
    ]
    checked = check_labels(_table(rows), SHAPES, SOURCE)
    assert list(checked.labels["id"]) == ["1.2.4"]
    assert {(e["id"], e["path"], e["reason"]) for e in checked.rejected} == {
        ("9.9.9", f"{SOURCE}:2", "no converted image has this ImageId"),
        ("", f"{SOURCE}:3", "a label row without an ImageId"),
        ("1.2.3", f"{SOURCE}:4", "-1 (no pneumothorax) next to rows with regions"),
        ("1.2.5", SOURCE, "the image has no label row"),
    }
