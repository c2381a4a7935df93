"""RunMetricsDataset: a DVC metrics JSON file, and the same metrics in MLflow."""

from __future__ import annotations

import pytest

from pneumothorax.datasets.run_metrics_dataset import RunMetricsDataset
from pneumothorax.tracking.logged import MlflowLogged
from tests.tracking.tracked import tracked

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
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    dataset.save(METRICS)
    runs = tracked(tmp_path, "metrics", lambda tracker: dataset.log_to_mlflow(METRICS, tracker))
    assert runs.outcome.failure is None
    assert runs.entry != runs.run
    for run_id in (runs.entry, runs.run):
        metrics = runs.client.get_run(run_id).data.metrics
        assert metrics == {
            "images.files_converted": 12.0,
            "images.files_rejected": 0.0,
            "images.seconds": 1.5,
        }


def test_an_empty_chunk_logs_nothing(tmp_path) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"))
    runs = tracked(tmp_path, "metrics", lambda tracker: dataset.log_to_mlflow({}, tracker))
    assert runs.client.get_run(runs.run).data.metrics == {}


def test_the_dataset_is_one_the_mlflow_hook_logs(tmp_path) -> None:
    assert isinstance(RunMetricsDataset(filepath=str(tmp_path / "m.json")), MlflowLogged)


@pytest.mark.parametrize("prefix", [None, "metadata"])
def test_describe_names_the_file_and_prefix(tmp_path, prefix) -> None:
    dataset = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix=prefix)
    assert str(tmp_path / "m.json") in repr(dataset)


def test_mlflow_only_metrics_stay_out_of_the_file(tmp_path) -> None:
    path = tmp_path / "m.json"
    dataset = RunMetricsDataset(filepath=str(path), prefix="images", mlflow_only=["seconds"])
    dataset.save(METRICS)
    runs = tracked(tmp_path, "metrics", lambda tracker: dataset.log_to_mlflow(METRICS, tracker))
    assert path.read_bytes() == b'{\n  "files_converted": 12,\n  "files_rejected": 0\n}\n'
    assert runs.client.get_run(runs.run).data.metrics["images.seconds"] == 1.5
