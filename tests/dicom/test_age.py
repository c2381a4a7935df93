"""(0010,1010) Patient's Age read as years (``pneumothorax.dicom.age``), per PS3.5 Table 6.2-1."""

from __future__ import annotations

import math

import pytest

from pneumothorax.dicom.age import age_in_years


@pytest.mark.parametrize(
    ("value", "years"),
    [
        ("045Y", 45),
        ("000Y", 0),
        ("120M", 10),  # 120 months / 12: the case two parsers used to disagree on (10 vs 0)
        ("018M", 1.5),  # the standard's own example: 18 months
        ("021M", 1.75),  # 21 / 12
        ("006M", 0.5),  # 6 / 12
        ("052W", 0.9966),  # 52 x 7 = 364 days / 365.25 = 0.996578...
        ("365D", 0.9993),  # 365 / 365.25 = 0.999315...
        ("001D", 0.0027),  # 1 / 365.25 = 0.002738...
        ("38", 38),  # SIIM's bare number: years
        (" 045y ", 45),  # case and padding spaces ignored
        (38, 38),  # a CSV column of bare numbers read back as integers
        (38.0, 38),  # ... or as floats (a column with an empty cell)
        (1.75, 1.75),
    ],
)
def test_age_strings_give_years(value: object, years: float) -> None:
    assert age_in_years(value) == years


def test_whole_years_are_integers() -> None:
    assert isinstance(age_in_years("120M"), int)
    assert isinstance(age_in_years(38.0), int)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "Y", "45.5", "-5Y", "45X", "4 5Y", "²Y", "045YY", -1, math.nan, True],
)
def test_anything_else_is_unknown(value: object) -> None:
    assert age_in_years(value) is None
