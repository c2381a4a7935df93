"""Reporting nodes: distributions counted by hand, a deterministic contact sheet and figure."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

from pneumothorax.pipelines.reporting.nodes import (
    build_contact_sheet,
    plot_distributions,
    summarise_metadata,
)
from pneumothorax.runtime.file_ref import FileRef


def _ref(file_id: str, image: Image.Image) -> FileRef:
    return FileRef(file_id, f"{file_id}.png", image.copy)


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e", "f"],
            # SIIM writes bare years; the standard's AS form is nnnY/M/W/D.
            "PatientAge": ["38", "045Y", "9", "006M", None, "93"],
            "PatientSex": ["M", "F", "M", None, "O", "M"],
            "ViewPosition": ["PA", "AP", "PA", "PA", "", "AP"],
            "Rows": [1024, 1024, 2048, 1024, None, 1024],
            "Columns": [1024, 1024, 2500, 1024, 512, 1024],
        }
    )


def test_patient_age_is_counted_by_decade_with_unknowns(table: pd.DataFrame) -> None:
    age, _, _, _ = summarise_metadata(table)
    counts = dict(zip(age["age"], age["count"], strict=True))
    # 38 -> 30-39, 045Y -> 40-49, 9 and 006M (half a year) -> 0-9, None -> unknown, 93 -> 90+
    assert counts == {
        "0-9": 2, "10-19": 0, "20-29": 0, "30-39": 1, "40-49": 1, "50-59": 0, "60-69": 0,
        "70-79": 0, "80-89": 0, "90+": 1, "unknown": 1,
    }  # fmt: skip
    assert list(age["age"])[-2:] == ["90+", "unknown"]


def test_ages_in_months_weeks_and_days_fall_in_the_decade_of_their_years() -> None:
    table = pd.DataFrame({"id": list("abcde"), "PatientAge": ["120M", "119M", "052W", "3653D", ""]})
    counts = summarise_metadata(table)[0].set_index("age")["count"].to_dict()
    # 120 / 12 = 10 -> 10-19; 119 / 12 = 9.92, 364 / 365.25 days = 0.997 -> 0-9;
    # 3653 / 365.25 = 10.001 -> 10-19; an empty value is unknown.
    assert (counts["0-9"], counts["10-19"], counts["unknown"]) == (2, 2, 1)


def test_bare_years_read_back_from_csv_as_numbers_are_binned() -> None:
    table = pd.DataFrame({"id": ["a", "b", "c"], "PatientAge": [38.0, float("nan"), 93.0]})
    counts = summarise_metadata(table)[0].set_index("age")["count"].to_dict()
    assert (counts["30-39"], counts["90+"], counts["unknown"]) == (1, 1, 1)


def test_sex_view_and_raw_size_are_counted_with_unknown_last(table: pd.DataFrame) -> None:
    _, sex, view, size = summarise_metadata(table)
    assert sex.to_dict("list") == {"PatientSex": ["F", "M", "O", "unknown"], "count": [1, 3, 1, 1]}
    assert view.to_dict("list") == {"ViewPosition": ["AP", "PA", "unknown"], "count": [2, 3, 1]}
    assert size.to_dict("list") == {
        "size": ["1024x1024", "2500x2048", "unknown"],
        "count": [4, 1, 1],
    }


def test_missing_columns_count_as_unknown() -> None:
    _, sex, _, size = summarise_metadata(pd.DataFrame({"id": ["a", "b"]}))
    assert sex.to_dict("list") == {"PatientSex": ["unknown"], "count": [2]}
    assert size.to_dict("list") == {"size": ["unknown"], "count": [2]}


def test_contact_sheet_is_a_deterministic_grid_of_sixteen() -> None:
    images = {
        f"id{n:02d}": _ref(f"id{n:02d}", Image.new("L", (256, 200), color=n * 10))
        for n in range(20)
    }
    first = build_contact_sheet(images)
    assert first == build_contact_sheet(dict(reversed(images.items())))
    with Image.open(io.BytesIO(first)) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * 160, 4 * (160 + 14))


def test_distributions_figure_is_a_deterministic_png(table: pd.DataFrame) -> None:
    pixels = pd.DataFrame({"intensity": range(256), "pixels": [1] * 256})
    figure = plot_distributions(*summarise_metadata(table), pixels)
    assert figure[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure == plot_distributions(*summarise_metadata(table), pixels)
    assert b"Software" not in figure  # no tool/version text in the bytes
