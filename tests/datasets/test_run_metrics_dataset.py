"""RunMetricsDataset: a DVC metrics JSON file, and the same metrics in MLflow."""

from __future__ import annotations

import socket

import mlflow
import pytest
from mlflow.entities import Run, RunData, RunInfo
from mlflow.tracking import fluent

from pneumothorax.datasets.run_metrics_dataset import RunMetricsDataset
from pneumothorax.tracking import safe_tracking

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


def test_metrics_go_to_the_run_and_its_parent(tmp_path) -> None:
    safe_tracking.configure(required=False)
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        dataset.save(METRICS)
    client = mlflow.MlflowClient()
    for run_id in (parent.info.run_id, child.info.run_id):
        metrics = client.get_run(run_id).data.metrics
        assert metrics == {
            "images.files_converted": 12.0,
            "images.files_rejected": 0.0,
            "images.seconds": 1.5,
        }


def test_the_file_is_written_when_mlflow_is_down(tmp_path, monkeypatch, caplog) -> None:
    safe_tracking.configure(required=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = tmp_path / "m.json"
    mlflow.set_tracking_uri(dead)
    # A run whose server has gone: the state of a run when its server dies mid-way.
    info = RunInfo("r1", "0", "u", "RUNNING", 0, None, "active", run_name="r")
    stack = fluent._active_run_stack.get()
    stack.append(fluent.ActiveRun(Run(info, RunData())))
    try:
        RunMetricsDataset(filepath=str(path), prefix="images").save(METRICS)
    finally:
        stack.clear()
        mlflow.set_tracking_uri(None)
    assert path.is_file()
    assert not safe_tracking.enabled()
    assert "not recorded in MLflow" in caplog.text
    safe_tracking.configure(required=False)


@pytest.mark.parametrize("prefix", [None, "metadata"])
def test_describe_names_the_file_and_prefix(tmp_path, prefix) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix=prefix)
    assert str(tmp_path / "m.json") in repr(dataset)


def test_mlflow_only_metrics_stay_out_of_the_file(tmp_path) -> None:
    safe_tracking.configure(required=False)
    path = tmp_path / "m.json"
    dataset = RunMetricsDataset(filepath=str(path), prefix="images", mlflow_only=["seconds"])
    with mlflow.start_run() as run:
        dataset.save(METRICS)
    assert path.read_bytes() == b'{\n  "files_converted": 12,\n  "files_rejected": 0\n}\n'
    logged = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert logged["images.seconds"] == 1.5
