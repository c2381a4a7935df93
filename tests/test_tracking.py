"""Tests for where MLflow runs are recorded (``pneumothorax.tracking``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumothorax.tracking import artifact_location, repository_root, tracking_uri


@pytest.mark.parametrize(
    "suffix",
    [
        ".dvc/tmp/exps/tmpabc123",
        ".dvc/tmp/exps/standalone/tmp9x/project",
        ".dvc/tmp",
    ],
)
def test_repository_root_strips_dvc_temp_workspace(tmp_path: Path, suffix: str) -> None:
    repo = tmp_path / "repo"
    assert repository_root(repo / suffix) == repo.resolve()


@pytest.mark.parametrize("relative", ["", "sub/project", ".dvc", ".dvc/cache", "tmp/.dvc"])
def test_repository_root_of_ordinary_path(tmp_path: Path, relative: str) -> None:
    path = tmp_path / "repo" / relative
    assert repository_root(path) == path.resolve()


def test_repository_root_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert repository_root(Path("repo/.dvc/tmp/exps/x")) == tmp_path.resolve() / "repo"


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
