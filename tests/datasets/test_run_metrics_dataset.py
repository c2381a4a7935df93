"""RunMetricsDataset: a DVC metrics JSON file, and the same metrics in MLflow."""

from __future__ import annotations

import mlflow
import pytest

from pneumothorax.datasets.run_metrics_dataset import RunMetricsDataset
from pneumothorax.tracking.logged import MlflowLogged, RunIds

METRICS = {
    "files_converted": {"value": 12.0, "step": 0},
    "files_rejected": {"value": 0.0, "step": 0},
    "seconds": {"value": 1.5, "step": 0},
}


def test_save_writes_sorted_json_with_lf_and_counts_as_integers(tmp_path) -> None:
    path = tmp_path / "reporting" / "images_metrics.json"
    dataset = RunMetricsDataset(filepath=str(path), prefix="images")
    dataset.save(METRICS)
    assert path.read_bytes() == (
        b'{\n  "files_converted": 12,\n  "files_rejected": 0,\n  "seconds": 1.5\n}\n'
    )
    assert dataset.load() == {"files_converted": 12, "files_rejected": 0, "seconds": 1.5}
    assert dataset.exists()


def test_an_empty_chunk_writes_nothing(tmp_path) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"))
    dataset.save({})
    assert not dataset.exists()


def _runs() -> tuple[mlflow.MlflowClient, RunIds]:
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("metrics")
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    return client, RunIds(run=child, entry=parent, experiment=experiment)


def test_metrics_go_to_the_run_and_its_parent(tmp_path) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    client, runs = _runs()
    dataset.save(METRICS)
    dataset.log_to_mlflow(METRICS, client, runs)
    for run_id in (runs.entry, runs.run):
        metrics = client.get_run(run_id).data.metrics
        assert metrics == {
            "images.files_converted": 12.0,
            "images.files_rejected": 0.0,
            "images.seconds": 1.5,
        }


def test_an_empty_chunk_logs_nothing(tmp_path) -> None:
    client, runs = _runs()
    RunMetricsDataset(filepath=str(tmp_path / "m.json")).log_to_mlflow({}, client, runs)
    assert client.get_run(runs.run).data.metrics == {}


def test_the_dataset_is_one_the_mlflow_hook_logs(tmp_path) -> None:
    assert isinstance(RunMetricsDataset(filepath=str(tmp_path / "m.json")), MlflowLogged)


@pytest.mark.parametrize("prefix", [None, "metadata"])
def test_describe_names_the_file_and_prefix(tmp_path, prefix) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix=prefix)
    assert str(tmp_path / "m.json") in repr(dataset)


def test_mlflow_only_metrics_stay_out_of_the_file(tmp_path) -> None:
    path = tmp_path / "m.json"
    dataset = RunMetricsDataset(filepath=str(path), prefix="images", mlflow_only=["seconds"])
    client, runs = _runs()
    dataset.save(METRICS)
    dataset.log_to_mlflow(METRICS, client, runs)
    assert path.read_bytes() == b'{\n  "files_converted": 12,\n  "files_rejected": 0\n}\n'
    assert client.get_run(runs.run).data.metrics["images.seconds"] == 1.5
