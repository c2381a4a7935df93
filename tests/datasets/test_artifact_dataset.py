"""ArtifactDataset: the wrapped file is written, then logged to the experiment's entry."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.artifact_dataset import ArtifactDataset
from pneumothorax.tracking import safe_tracking


def _csv(path) -> ArtifactDataset:
    return ArtifactDataset(
        artifact_path="reporting",
        dataset={"type": "pandas.CSVDataset", "filepath": str(path), "save_args": {"index": False}},
    )


def test_save_writes_the_file_and_logs_it_on_the_parent_run(tmp_path) -> None:
    safe_tracking.configure(required=False)
    # Artifacts under tmp_path too (MLflow's default root is ./mlruns in the working folder).
    experiment = mlflow.create_experiment("artifacts", (tmp_path / "artifacts").as_uri())
    path = tmp_path / "patient_sex.csv"
    dataset = _csv(path)
    with (
        mlflow.start_run(experiment_id=experiment) as parent,
        mlflow.start_run(experiment_id=experiment, nested=True) as child,
    ):
        dataset.save(pd.DataFrame({"PatientSex": ["F", "M"], "count": [1, 2]}))
    assert path.read_text() == "PatientSex,count\nF,1\nM,2\n"
    assert dataset.load().to_dict("list") == {"PatientSex": ["F", "M"], "count": [1, 2]}
    client = mlflow.MlflowClient()
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "reporting")] == [
        "reporting/patient_sex.csv"
    ]
    assert client.list_artifacts(child.info.run_id) == []


def test_without_a_run_only_the_file_is_written(tmp_path) -> None:
    path = tmp_path / "a.csv"
    _csv(path).save(pd.DataFrame({"a": [1]}))
    assert path.read_text() == "a\n1\n"


@pytest.mark.parametrize("filepath", [None, "s3://bucket/a.csv"])
def test_a_wrapped_dataset_without_a_local_file_is_refused(filepath) -> None:
    config = {"type": "pandas.CSVDataset"} | ({"filepath": filepath} if filepath else {})
    with pytest.raises(DatasetError, match="needs a wrapped dataset with a local filepath"):
        ArtifactDataset(dataset=config)
