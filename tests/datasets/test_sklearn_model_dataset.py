"""SklearnModelDataset: an MLflow model folder on disk, the same model logged on the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.sklearn_model_dataset import SklearnModelDataset
from pneumothorax.model.classifier import build_classifier
from tests.tracking.tracked import tracked


def _fitted():
    rng = np.random.default_rng(0)
    images = rng.random((12, 16, 16)).astype(np.float32)
    labels = np.arange(12) % 2
    images[labels == 1, 4:12, 5] += 1.0
    return build_classifier(cells=2, c=1.0).fit(images, labels), images


def test_save_writes_an_mlflow_model_that_loads_back(tmp_path: Path) -> None:
    model, images = _fitted()
    dataset = SklearnModelDataset(filepath=str(tmp_path / "models" / "classifier"))
    assert not dataset.exists()
    dataset.save(model)
    assert dataset.exists()
    assert (tmp_path / "models" / "classifier" / "MLmodel").is_file()
    # No staging folder left beside it.
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["classifier"]
    np.testing.assert_array_equal(dataset.load().predict_proba(images), model.predict_proba(images))
    dataset.save(model)  # overwrites
    assert dataset.exists()


def test_the_model_is_logged_on_the_stages_run(tmp_path: Path) -> None:
    model, _ = _fitted()
    dataset = SklearnModelDataset(filepath=str(tmp_path / "classifier"), name="classifier")
    dataset.save(model)

    def log(tracker) -> None:
        dataset.prepare_mlflow(tracker)  # as the hook does before the nodes: logs nothing
        dataset.log_to_mlflow(model, tracker)

    runs = tracked(tmp_path, "model", log, under_dvc=False)
    assert runs.outcome.failure is None
    experiment = runs.client.get_experiment_by_name("model").experiment_id
    logged = runs.client.search_logged_models([experiment])
    assert [m.name for m in logged] == ["classifier"]
    assert logged[0].source_run_id == runs.run


def test_a_remote_path_is_refused() -> None:
    with pytest.raises(DatasetError, match="needs a local folder"):
        SklearnModelDataset(filepath="s3://bucket/classifier")


def test_the_same_model_saved_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    # DVC hashes the folder into dvc.lock: a fresh clone must reproduce it.
    import hashlib
    import time

    model, images = _fitted()
    digests = []
    for name in ("first", "second"):
        SklearnModelDataset(filepath=str(tmp_path / name)).save(model)
        digests.append(
            {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (tmp_path / name).iterdir()}
        )
        time.sleep(1.1)  # a zip entry's time has a 2-second resolution; MLflow's, microseconds
    assert digests[0] == digests[1]
    assert "model.skops" in digests[0]
    loaded = SklearnModelDataset(filepath=str(tmp_path / "second")).load()
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
