"""Run the metadata pipeline through Kedro's SequentialRunner on an in-memory catalog."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset

from pneumothorax.config.params import ImageParams, MetadataParams
from pneumothorax.datasets.png_folder_dataset import PngFolderDataset
from pneumothorax.pipelines.images.pipeline import create_pipeline as create_images_pipeline
from pneumothorax.pipelines.metadata.pipeline import create_pipeline

from ..conftest import BAD_ID, SAMPLE_COUNT, Sample, file_mapper

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")


def test_pipeline_shape() -> None:
    pipeline = create_pipeline()
    assert [n.name for n in pipeline.nodes] == ["extract_metadata"]
    assert pipeline.inputs() == {
        "dicom_headers",
        "img_train_log",
        "params:metadata",
        "deid_key",
        "file_mapper",
    }
    assert pipeline.outputs() == {"train_metadata", "rejected_files", "metadata_metrics"}


def _inputs(sample: Sample, tmp_path: Path) -> dict[str, MemoryDataset]:
    """Inputs of the images and metadata pipelines: de-identified with a test key, no
    incremental cache, PNGs under ``tmp_path``; the images pipeline makes the log."""
    return {
        "dicom_images": MemoryDataset(sample.files(), copy_mode="assign"),
        "dicom_headers": MemoryDataset(sample.files(), copy_mode="assign"),
        "params:image": MemoryDataset(ImageParams(size=(16, 16))),
        # The catalog's own type: the images node confirms it.
        "img_train": PngFolderDataset(path=str(tmp_path / "img_train")),
        "render_report": MemoryDataset(copy_mode="assign"),
        "img_train_log": MemoryDataset(),
        "images_metrics": MemoryDataset(),
        "pixel_intensity": MemoryDataset(),
        "params:metadata": MemoryDataset(MetadataParams(deid=True)),
        "deid_key": MemoryDataset("test-key"),
        "file_mapper": MemoryDataset(file_mapper(), copy_mode="assign"),
    }


def test_runs_on_sequential_runner_after_the_images_pipeline(
    sample: Sample, tmp_path: Path
) -> None:
    table, rejected, metrics = MemoryDataset(), MemoryDataset(), MemoryDataset()
    catalog = DataCatalog(
        {
            **_inputs(sample, tmp_path),
            "train_metadata": table,
            "rejected_files": rejected,
            "metadata_metrics": metrics,
        }
    )
    SequentialRunner().run(create_images_pipeline() + create_pipeline(), catalog)
    result = table.load()
    assert isinstance(result, pd.DataFrame)
    assert result.columns[0] == "id"
    assert list(result["id"]) == sorted(sample.good)
    assert set(result["PatientIdentityRemoved"]) == {"YES"}  # de-identified by default
    assert list(rejected.load()["id"]) == [BAD_ID]
    assert metrics.load()["files_rejected"] == {"value": 1.0, "step": 0}
    assert metrics.load()["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}


def test_csv_output_like_the_catalog(sample: Sample, tmp_path: Path) -> None:
    csv = tmp_path / "02_intermediate" / "train.csv"
    catalog = DataCatalog(
        {
            **_inputs(sample, tmp_path),
            "rejected_files": MemoryDataset(),
            "train_metadata": CSVDataset(
                filepath=str(csv),
                save_args={"index": False, "lineterminator": "\n", "encoding": "utf-8"},
            ),
            "metadata_metrics": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_images_pipeline() + create_pipeline(), catalog)
    raw = csv.read_bytes()
    assert b"\r\n" not in raw
    lines = raw.decode("utf-8").splitlines()
    assert lines[0].startswith("id,")
    assert len(lines) == 1 + SAMPLE_COUNT
    assert [line.split(",", 1)[0] for line in lines[1:]] == sorted(sample.good)
