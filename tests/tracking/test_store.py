"""Tests for where MLflow runs are recorded (``pneumothorax.tracking.store``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pneumothorax.tracking.store import (
    artifact_location,
    relocate_store,
    setting_up,
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


def _open_store_at_once(project: str, barrier: Any) -> str | None:
    """One stage's writer connecting (spawned process): MLflow imported, then all at once."""
    import mlflow  # noqa: F401  (imported before the barrier, as a writer preloads it)

    from pneumothorax.tracking.writer import Writer

    writer = Writer({"project_path": project, "experiment": "pneumothorax", "params": {}})
    barrier.wait(timeout=120)
    writer.connect()
    return None if writer.failure is None else f"{writer.failure}"


def test_stages_opening_a_new_store_at_once_all_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four writers of parallel DVC commands (`dvc exp run --run-all --jobs N`) open a
    store that does not exist yet in the same instant: MLflow's own table set-up and the
    experiment's creation race; every one must connect, to one experiment."""
    import multiprocessing

    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path.resolve() / "repo"
    project.mkdir()
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(4)
    with context.Pool(4) as pool:
        failures = pool.starmap(_open_store_at_once, [(str(project), barrier)] * 4)
    assert failures == [None] * 4
    experiments = MlflowClient(f"sqlite:///{project}/mlflow.db").search_experiments()
    assert [e.name for e in experiments if e.name != "Default"] == ["pneumothorax"]


@pytest.mark.parametrize(
    ("uri", "lock"),
    [
        ("sqlite:///{root}/a/mlflow.db", "a/mlflow.db.lock"),
        ("sqlite+pysqlite:///{root}/b.db?timeout=20", "b.db.lock"),
        ("sqlite:///my%20runs.db", "cwd/my runs.db.lock"),
        ("sqlite:///:memory:", None),
        ("sqlite:///:memory:?cache=shared", None),
        ("sqlite:///", None),
        ("http://127.0.0.1:5000", None),
        ("file:///{root}/mlruns", None),
    ],
)
def test_a_store_is_set_up_under_a_lock_beside_its_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str, lock: str | None
) -> None:
    """The lock is ``<store>.lock`` for a sqlite file (any driver, relative to the working
    folder, %-escaped, with options); no file anywhere for a store in memory or a server."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with setting_up(uri.format(root=tmp_path)):
        pass
    made = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.lock"))
    assert made == ([lock] if lock else [])


def test_no_usage_reporting_turns_mlflows_off_unless_the_environment_says_otherwise(
    tmp_path: Path,
) -> None:
    """Judged by MLflow's own check, in a fresh interpreter (MLflow reads it on import),
    whose environment holds none of the variables by which MLflow recognises CI or a test,
    and keeps the user's folders out of reach (reporting writes an installation id there)."""
    code = (
        "from pneumothorax.tracking.store import no_usage_reporting; no_usage_reporting(); "
        "from mlflow.telemetry.utils import is_telemetry_disabled; print(is_telemetry_disabled())"
    )
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

    def disabled(env: dict[str, str]) -> str:
        command = [sys.executable, "-c", code]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    assert disabled(clean) == "True"
    assert not (tmp_path / "config").exists() and not (tmp_path / "home").exists()
    # A user's own choice stands (and shows that nothing else here turns reporting off).
    assert disabled({**clean, "MLFLOW_DISABLE_TELEMETRY": "false"}) == "False"
