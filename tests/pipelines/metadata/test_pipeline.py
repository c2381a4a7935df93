"""Run the metadata pipeline through Kedro's SequentialRunner on an in-memory catalog."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset

from pneumothorax.pipelines.metadata.pipeline import create_pipeline

from ..conftest import SAMPLE_COUNT, Sample

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")


def test_pipeline_shape() -> None:
    pipeline = create_pipeline()
    assert [n.name for n in pipeline.nodes] == ["extract_metadata"]
    assert pipeline.inputs() == {"dicom_headers", "params:executor"}
    assert pipeline.outputs() == {"train_metadata", "metadata_metrics"}


def test_runs_on_sequential_runner(sample: Sample) -> None:
    table, metrics = MemoryDataset(), MemoryDataset()
    catalog = DataCatalog(
        {
            "dicom_headers": MemoryDataset(
                sample.loaders(stop_before_pixels=True), copy_mode="assign"
            ),
            "params:executor": MemoryDataset({"backend": "sequential", "workers": None}),
            "train_metadata": table,
            "metadata_metrics": metrics,
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    result = table.load()
    assert isinstance(result, pd.DataFrame)
    assert result.columns[0] == "id"
    assert list(result["id"]) == sorted(sample.good)
    assert metrics.load()["files_rejected"] == {"value": 1.0, "step": 0}
    assert metrics.load()["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}


def test_csv_output_like_the_catalog(sample: Sample, tmp_path: Path) -> None:
    csv = tmp_path / "02_intermediate" / "train.csv"
    catalog = DataCatalog(
        {
            "dicom_headers": MemoryDataset(
                sample.loaders(stop_before_pixels=True), copy_mode="assign"
            ),
            "params:executor": MemoryDataset({"backend": "sequential"}),
            "train_metadata": CSVDataset(
                filepath=str(csv),
                save_args={"index": False, "lineterminator": "\n", "encoding": "utf-8"},
            ),
            "metadata_metrics": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    raw = csv.read_bytes()
    assert b"\r\n" not in raw
    lines = raw.decode("utf-8").splitlines()
    assert lines[0].startswith("id,")
    assert len(lines) == 1 + SAMPLE_COUNT
    assert [line.split(",", 1)[0] for line in lines[1:]] == sorted(sample.good)
