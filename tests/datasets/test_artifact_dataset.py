"""ArtifactDataset: the wrapped file is written, then logged to the experiment's entry."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.artifact_dataset import ArtifactDataset
from pneumothorax.tracking.logged import MlflowLogged
from tests.tracking.tracked import tracked


def _csv(path) -> ArtifactDataset:
    return ArtifactDataset(
        artifact_path="reporting",
        dataset={"type": "pandas.CSVDataset", "filepath": str(path), "save_args": {"index": False}},
    )


def test_the_file_is_logged_on_the_experiments_entry(tmp_path) -> None:
    path = tmp_path / "patient_sex.csv"
    dataset = _csv(path)
    data = pd.DataFrame({"PatientSex": ["F", "M"], "count": [1, 2]})
    dataset.save(data)
    runs = tracked(tmp_path, "artifacts", lambda tracker: dataset.log_to_mlflow(data, tracker))
    assert runs.outcome.failure is None
    assert path.read_text() == "PatientSex,count\nF,1\nM,2\n"
    assert dataset.load().to_dict("list") == {"PatientSex": ["F", "M"], "count": [1, 2]}
    assert [a.path for a in runs.client.list_artifacts(runs.entry, "reporting")] == [
        "reporting/patient_sex.csv"
    ]
    assert runs.entry != runs.run
    assert runs.client.list_artifacts(runs.run) == []
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
