"""ArtifactDataset: the wrapped file is written, then logged to the experiment's entry."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.artifact_dataset import ArtifactDataset
from pneumothorax.tracking.logged import MlflowLogged, RunIds


def _csv(path) -> ArtifactDataset:
    return ArtifactDataset(
        artifact_path="reporting",
        dataset={"type": "pandas.CSVDataset", "filepath": str(path), "save_args": {"index": False}},
    )


def test_the_file_is_logged_on_the_experiments_entry(tmp_path) -> None:
    # Artifacts under tmp_path too (MLflow's default root is ./mlruns in the working folder).
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("artifacts", (tmp_path / "artifacts").as_uri())
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    path = tmp_path / "patient_sex.csv"
    dataset = _csv(path)
    data = pd.DataFrame({"PatientSex": ["F", "M"], "count": [1, 2]})
    dataset.save(data)
    dataset.log_to_mlflow(data, client, RunIds(run=child, entry=parent, experiment=experiment))
    assert path.read_text() == "PatientSex,count\nF,1\nM,2\n"
    assert dataset.load().to_dict("list") == {"PatientSex": ["F", "M"], "count": [1, 2]}
    assert [a.path for a in client.list_artifacts(parent, "reporting")] == [
        "reporting/patient_sex.csv"
    ]
    assert client.list_artifacts(child) == []
    assert isinstance(dataset, MlflowLogged)


def test_save_writes_the_file_without_mlflow(tmp_path) -> None:
    path = tmp_path / "a.csv"
    _csv(path).save(pd.DataFrame({"a": [1]}))
    assert path.read_text() == "a\n1\n"


@pytest.mark.parametrize("filepath", [None, "s3://bucket/a.csv"])
def test_a_wrapped_dataset_without_a_local_file_is_refused(filepath) -> None:
    config = {"type": "pandas.CSVDataset"} | ({"filepath": filepath} if filepath else {})
    with pytest.raises(DatasetError, match="needs a wrapped dataset with a local filepath"):
        ArtifactDataset(dataset=config)
