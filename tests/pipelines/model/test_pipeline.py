"""The model pipeline through Kedro's SequentialRunner: PNG folder in, model and ROC out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from pneumothorax.config.params import ModelParams
from pneumothorax.datasets.png_folder_dataset import PngFolderDataset
from pneumothorax.model.classifier import CellFeatures
from pneumothorax.pipelines.model.nodes import evaluate_classifier, train_classifier
from pneumothorax.pipelines.model.pipeline import create_pipeline

from ..conftest import file_mapper
from .test_nodes import MODEL, _images


def test_pipeline_shape() -> None:
    pipeline = create_pipeline()
    assert [n.name for n in pipeline.nodes] == [
        "extract_features",
        "train_classifier",
        "evaluate_classifier",
    ]
    assert pipeline.inputs() == {"img_train", "split", "params:model", "file_mapper"}
    # The classifier is an output too (a catalog entry), consumed by the evaluation.
    assert pipeline.outputs() == {"model_metrics", "roc_points", "roc_curve"}
    assert "classifier" in pipeline.datasets()


def test_runs_on_sequential_runner_with_worker_processes(tmp_path: Path) -> None:
    images, split = _images(64)
    folder = PngFolderDataset(path=str(tmp_path / "img_train"))
    folder.save({image_id: ref.load() for image_id, ref in images.items()})
    mapper = file_mapper({"backend": "processes", "workers": 2})
    outputs = {name: MemoryDataset(copy_mode="assign") for name in ("model_metrics", "roc_points")}
    catalog = DataCatalog(
        {
            "img_train": folder,
            "split": MemoryDataset(split),
            "params:model": MemoryDataset(MODEL),
            "file_mapper": MemoryDataset(mapper, copy_mode="assign"),
            "model_features": MemoryDataset(copy_mode="assign"),
            "classifier": MemoryDataset(copy_mode="assign"),
            "roc_curve": MemoryDataset(),
            **outputs,
        }
    )
    try:
        SequentialRunner().run(create_pipeline(), catalog)
    finally:
        mapper.close()
    # The reference: the nodes on features computed in memory from the images themselves.
    stack = np.stack([np.asarray(images[i].load()) for i in split["id"]])
    features = pd.DataFrame(_reference_features(stack, MODEL), index=[str(i) for i in split["id"]])
    model = train_classifier(features, split, MODEL)
    metrics, points, _picture = evaluate_classifier(model, features, split, MODEL)
    assert outputs["model_metrics"].load() == metrics
    assert metrics["auc"]["value"] == 1.0  # not vacuous: the line is found
    pd.testing.assert_frame_equal(outputs["roc_points"].load(), points)


def _reference_features(stack: np.ndarray, model: ModelParams) -> np.ndarray:
    return CellFeatures(cells=model.cells).transform(stack)
