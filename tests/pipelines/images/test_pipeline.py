"""Run the images pipeline through Kedro's SequentialRunner on an in-memory catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from pneumothorax.config.params import ImageParams
from pneumothorax.datasets.png_dataset import PngDataset
from pneumothorax.datasets.png_folder_dataset import PngFolderDataset
from pneumothorax.pipelines.images.pipeline import create_pipeline

from ..conftest import BAD_ID, SAMPLE_COUNT, Sample, file_mapper

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR AS")


def test_pipeline_shape() -> None:
    pipeline = create_pipeline()
    assert [n.name for n in pipeline.nodes] == ["render_images", "summarise_renders"]
    assert pipeline.inputs() == {
        "dicom_images",
        "params:image",
        "file_mapper",
    }
    assert pipeline.outputs() == {
        "img_train",
        "img_train_log",
        "images_metrics",
        "pixel_intensity",
    }


def _catalog(sample: Sample, image: dict, out: Path, **outputs: MemoryDataset) -> DataCatalog:
    """The pipeline's catalog in memory, PNGs written under ``out`` (no incremental cache)."""
    return DataCatalog(
        {
            "dicom_images": MemoryDataset(sample.files(), copy_mode="assign"),
            "params:image": MemoryDataset(ImageParams.from_mapping(image)),
            "file_mapper": MemoryDataset(file_mapper(), copy_mode="assign"),
            # The catalog's own type: the node confirms it (kedro-datasets' folder has no
            # confirm()).
            "img_train": PngFolderDataset(path=str(out)),
            "render_report": MemoryDataset(copy_mode="assign"),
            "img_train_log": outputs.get("img_train_log", MemoryDataset()),
            "images_metrics": outputs.get("images_metrics", MemoryDataset()),
            "pixel_intensity": outputs.get("pixel_intensity", MemoryDataset()),
        }
    )


def test_runs_on_sequential_runner(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "img_train"
    # What an earlier run left: PNGs of inputs that are gone (one in a subfolder), and one
    # of the file this run rejects.
    for stale in ("gone", "gone-study/0001", BAD_ID):
        (out / f"{stale}.png").parent.mkdir(parents=True, exist_ok=True)
        (out / f"{stale}.png").write_bytes(b"\x89PNG\r\n\x1a\n stale")
    metrics, log = MemoryDataset(), MemoryDataset()
    catalog = _catalog(
        sample,
        {"size": [40, 24], "png_compress_level": 6},
        out,
        images_metrics=metrics,
        img_train_log=log,
    )
    SequentialRunner().run(create_pipeline(), catalog)

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(f"{file_id}.png" for file_id in sample.good)
    assert f"{BAD_ID}.png" not in written
    assert not (out / "gone-study").exists()
    for name in written:
        with Image.open(out / name) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (40, 24))
    loaded = metrics.load()
    assert loaded["files_converted"] == {"value": float(SAMPLE_COUNT), "step": 0}
    assert loaded["files_rejected"] == {"value": 1.0, "step": 0}
    statuses = dict(zip(log.load()["id"], log.load()["status"], strict=True))
    assert statuses == {**dict.fromkeys(sample.good, "converted"), BAD_ID: "rejected"}


def test_catalog_png_reads_back(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "img_train"
    catalog = _catalog(sample, {"size": 32}, out)
    SequentialRunner().run(create_pipeline(), catalog)
    partitions = PartitionedDataset(
        path=str(out), dataset=PngDataset, filename_suffix=".png"
    ).load()
    assert sorted(partitions) == sorted(sample.good)
    for load in partitions.values():
        assert load().size == (32, 32)
