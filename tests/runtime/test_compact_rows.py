"""CompactRows: rows kept as lists of shared strings, built into one table at the end."""

from __future__ import annotations

import pandas as pd

from pneumothorax.runtime.compact_rows import CompactRows


def test_columns_in_the_given_order_and_missing_values_empty() -> None:
    rows = CompactRows()
    rows.add({"id": "b", "Rows": 2, "PatientName": "B"})
    rows.add({"id": "a", "Modality": "CR", "Rows": 1})
    assert rows.names() == ["id", "Rows", "PatientName", "Modality"]
    table = rows.table(["id", "Modality", "Rows", "never_seen"])
    assert list(table.columns) == ["id", "Modality", "Rows", "never_seen"]
    assert list(table["id"]) == ["b", "a"]  # the order rows were added
    assert pd.isna(table.loc[0, "Modality"]) and table.loc[1, "Modality"] == "CR"
    assert table["never_seen"].isna().all()
    assert len(rows) == 2


def test_columns_get_the_dtypes_pandas_infers_and_strings_stay_objects() -> None:
    rows = CompactRows()
    rows.add({"id": "a", "Rows": 1024, "PatientAge": 61.5, "Modality": "CR", "Mixed": "x"})
    rows.add({"id": "b", "Rows": 512, "Modality": "DX", "Mixed": 3})
    table = rows.table(["id", "Modality", "PatientAge", "Rows", "Mixed"])
    assert table["Rows"].dtype == "int64"
    assert table["PatientAge"].dtype == "float64"  # a missing value makes it NaN
    assert pd.isna(table.loc[1, "PatientAge"])
    assert table["Modality"].dtype == object  # not pandas' Arrow-backed str
    assert table["Mixed"].dtype == object
    # Written as pandas writes the inferred columns: empty for missing, no ".0" on ints.
    csv = table.to_csv(index=False, lineterminator="\n")
    assert csv == "id,Modality,PatientAge,Rows,Mixed\na,CR,61.5,1024,x\nb,DX,,512,3\n"


def test_equal_strings_are_shared_and_every_value_kept() -> None:
    rows = CompactRows()
    # Equal but distinct objects, as rows arrive from workers or from the cache.
    rows.add({"Modality": "".join(["C", "R"]), "Rows": 1024, "Age": 1.0})
    rows.add({"Modality": "".join(["C", "R"]), "Rows": 1024, "Age": True})
    table = rows.table(["Modality", "Rows", "Age"])
    assert table.loc[0, "Modality"] is table.loc[1, "Modality"]
    # Only strings are shared: 1.0 and True stay what they were (1.0 == True in Python).
    assert type(table.loc[0, "Age"]) is float and type(table.loc[1, "Age"]) is bool
