"""Tests for where MLflow runs are recorded (``pneumothorax.tracking.store``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumothorax.tracking.store import (
    artifact_location,
    relocate_store,
    tracking_uri,
)


def test_tracking_uri_default_is_repository_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path.resolve() / "repo"
    # sqlite:/// followed by an absolute path (which starts with "/").
    assert tracking_uri(repo) == f"sqlite:///{repo}/mlflow.db"
    assert tracking_uri(repo).startswith("sqlite:////")
    assert tracking_uri(repo / ".dvc" / "tmp" / "exps" / "e1") == f"sqlite:///{repo}/mlflow.db"


@pytest.mark.parametrize("uri", ["http://mlflow.internal:5000", "sqlite:////srv/mlflow.db"])
def test_tracking_uri_honours_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking_uri(tmp_path) == uri


def test_empty_environment_variable_means_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_artifact_location_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path.resolve() / "repo"
    assert artifact_location(repo) == f"file://{repo}/mlartifacts"
    assert artifact_location(repo / ".dvc" / "tmp" / "exps" / "e1") == f"file://{repo}/mlartifacts"


def test_artifact_location_none_with_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert artifact_location(tmp_path) is None


def _log_one_run(project: Path) -> str:
    """A run with one artifact in ``project``'s own store, as the hook creates it."""
    import mlflow

    location = artifact_location(project)  # before set_tracking_uri, which sets the variable
    mlflow.set_tracking_uri(tracking_uri(project))
    experiment = mlflow.create_experiment("pneumothorax", artifact_location=location)
    note = project / "note.txt"
    note.write_text("hello\n")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(note))
    mlflow.set_tracking_uri(None)
    return run.info.run_id


@pytest.mark.parametrize("how", ["mv", "cp -a"])
def test_relocate_store_points_every_location_at_the_moved_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import shutil

    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old = tmp_path.resolve() / "old"
    old.mkdir()
    run_id = _log_one_run(old)
    new = tmp_path.resolve() / "new"
    if how == "mv":
        old.rename(new)
    else:
        shutil.copytree(old, new, symlinks=True)
    assert relocate_store(new) == 3  # "Default" (mlruns/0), "pneumothorax" and its run
    assert relocate_store(new) == 0  # idempotent
    client = mlflow.MlflowClient(tracking_uri(new))
    run = client.get_run(run_id)
    assert run.info.artifact_uri == f"{(new / 'mlartifacts').as_uri()}/{run_id}/artifacts"
    experiment = client.get_experiment_by_name("pneumothorax")
    assert experiment.artifact_location == (new / "mlartifacts").as_uri()
    # The earlier run's artifact is found in the new folder.
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="note.txt", dst_path=str(tmp_path / "dl"),
        tracking_uri=tracking_uri(new),
    )  # fmt: skip
    assert Path(local).read_text() == "hello\n"
    if how == "cp -a":  # the original store is left as it was
        original = mlflow.MlflowClient(tracking_uri(old)).get_run(run_id)
        assert original.info.artifact_uri.startswith((old / "mlartifacts").as_uri())


def test_relocate_store_leaves_a_server_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    (tmp_path / "mlflow.db").write_bytes(b"not a database")
    assert relocate_store(tmp_path) == 0
