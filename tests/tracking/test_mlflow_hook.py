"""The pieces of an experiment's MLflow entry that need no store: tags without object reprs,
the stages' metrics files, the dataset source of a DVC remote."""

from __future__ import annotations

import json
from pathlib import Path

from pneumothorax.tracking.dvc_source import DvcRemoteSource
from pneumothorax.tracking.mlflow_hook import (
    _current_metrics,
    _metric_files,
    _plain_run_params,
    _written,
)
from pneumothorax.tracking.writer import dataset_source


def test_an_object_repr_becomes_its_class_name_and_the_rest_stays() -> None:
    params = {
        "runner": "<kedro.runner.sequential_runner.SequentialRunner object at 0x7f3a2c1d9e50>",
        "pipeline_names": ["images"],
        "is_async": False,
        "env": "local",
    }
    assert _plain_run_params(params) == {**params, "runner": "SequentialRunner"}


def test_a_typed_param_input_is_logged_as_params_yaml_wrote_it() -> None:
    from pneumothorax.config.params import ImageParams

    written = {"image": {"size": 256, "bit_depth": 8}, "strict": False}
    model = ImageParams.from_mapping(written["image"])
    assert model.size == (256, 256)  # what the node gets
    assert _written(written, "image", model) == {"size": 256, "bit_depth": 8}
    assert _written(written, "image.size", (256, 256)) == 256
    assert _written(written, "strict", False) is False
    assert _written(written, "absent", "x") == "x"  # not in the file: the input itself


def test_metrics_files_are_the_catalogs_run_metrics_datasets(tmp_path: Path) -> None:
    conf_catalog = {
        "images_metrics": {
            "type": "pneumothorax.datasets.run_metrics_dataset.RunMetricsDataset",
            "filepath": "data/08_reporting/images_metrics.json",
            "prefix": "images",
        },
        "train_metadata": {"type": "pandas.CSVDataset", "filepath": "data/train.csv"},
        "_anchor": {"type": "pandas.CSVDataset"},
    }
    assert _metric_files(conf_catalog, tmp_path) == {
        "images": tmp_path / "data/08_reporting/images_metrics.json"
    }


def test_current_metrics_are_named_as_the_stages_log_them(tmp_path: Path) -> None:
    images = tmp_path / "images_metrics.json"
    images.write_text(json.dumps({"files_converted": 12, "seconds": 0.5}), encoding="utf-8")
    files = {"images": images, "metadata": tmp_path / "not_run_yet.json"}
    assert _current_metrics(files) == {"images.files_converted": 12.0, "images.seconds": 0.5}


def test_a_remote_mlflow_has_no_source_type_for_is_described_as_dvc() -> None:
    source = dataset_source("ssh://dvc.example.org/srv/dvc/files/md5/ab/cdef.dir")
    assert isinstance(source, DvcRemoteSource)
    assert source.to_dict() == {"uri": "ssh://dvc.example.org/srv/dvc/files/md5/ab/cdef.dir"}
    assert type(dataset_source("s3://bucket/dvc/files/md5/ab/cdef.dir")).__name__ == (
        "S3ArtifactDatasetSource"
    )
