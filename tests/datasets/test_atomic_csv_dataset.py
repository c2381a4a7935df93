"""``AtomicCSVDataset`` writes what ``pandas.CSVDataset`` writes, but never a partial file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.atomic_csv_dataset import AtomicCSVDataset

SAVE_ARGS = {"index": False, "lineterminator": "\n", "encoding": "utf-8"}


class _Unprintable:
    """A cell value whose formatting fails: pandas is then part-way through the file."""

    def __str__(self) -> str:
        raise RuntimeError("cannot format this cell")


def test_save_writes_the_csv_and_load_reads_it_back(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "train.csv"
    table = pd.DataFrame({"id": ["a/1", "b/2"], "Rows": [512, 1024], "Note": ["é", ""]})
    dataset = AtomicCSVDataset(filepath=str(path), save_args=SAVE_ARGS)
    dataset.save(table)
    # Written out by hand: LF line endings, UTF-8, no index column, empty string as nothing.
    assert path.read_bytes() == "id,Rows,Note\na/1,512,é\nb/2,1024,\n".encode()
    loaded = dataset.load()
    assert loaded["id"].tolist() == ["a/1", "b/2"]
    assert loaded["Rows"].tolist() == [512, 1024]
    assert [p.name for p in path.parent.iterdir()] == ["train.csv"]  # no temporary left


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("old,content\n1,2\n3,4\n5,6\n")
    AtomicCSVDataset(filepath=str(path), save_args=SAVE_ARGS).save(pd.DataFrame({"x": [1]}))
    assert path.read_text() == "x\n1\n"


def test_a_save_failing_part_way_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.csv"
    previous = "id,Rows\na,1\n"
    path.write_text(previous)
    table = pd.DataFrame({"id": [f"f{i}" for i in range(50)] + ["bad"]})
    table["Value"] = [str(i) for i in range(50)] + [_Unprintable()]
    # One row per chunk: the first 50 rows reach the temporary file before the failure.
    dataset = AtomicCSVDataset(filepath=str(path), save_args={**SAVE_ARGS, "chunksize": 1})
    with pytest.raises(DatasetError, match="cannot format this cell"):
        dataset.save(table)
    assert path.read_text() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]


def test_a_failing_first_save_leaves_no_file_at_all(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    table = pd.DataFrame({"id": ["a", "b"], "Value": ["1", _Unprintable()]})
    dataset = AtomicCSVDataset(filepath=str(path), save_args={**SAVE_ARGS, "chunksize": 1})
    with pytest.raises(DatasetError, match="cannot format this cell"):
        dataset.save(table)
    assert list(tmp_path.iterdir()) == []
    assert not dataset.exists()


@pytest.mark.parametrize(
    "save_args",
    [SAVE_ARGS, {"index": True, "sep": ";"}, {"index": False, "header": False}],
    ids=["catalog", "index-semicolon", "no-header"],
)
def test_bytes_match_kedro_datasets_csv_dataset(tmp_path: Path, save_args: dict) -> None:
    from kedro_datasets.pandas import CSVDataset

    table = pd.DataFrame({"id": ["b", "a"], "PixelSpacing": ["[0.1, 0.1]", "[0.2, 0.2]"]})
    AtomicCSVDataset(filepath=str(tmp_path / "atomic.csv"), save_args=save_args).save(table)
    CSVDataset(filepath=str(tmp_path / "plain.csv"), save_args=save_args).save(table)
    assert (tmp_path / "atomic.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
