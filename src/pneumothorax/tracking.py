"""Where MLflow runs are recorded: one store per repository, whatever the working copy."""

from __future__ import annotations

import os
from pathlib import Path

#: DVC runs ``dvc exp run --temp`` / ``--queue`` in a copy under this folder of the repo.
_DVC_TEMP_MARKER = (".dvc", "tmp")


def repository_root(project_path: Path) -> Path:
    """Return the repository that owns ``project_path``.

    Inside a DVC temporary experiment workspace (``<repo>/.dvc/tmp/exps/...``) this is
    ``<repo>``, so an experiment logs into the same MLflow store as the workspace, and the
    store is not deleted with the temporary copy.
    """
    parts = project_path.resolve().parts
    for index in range(len(parts) - 1):
        if parts[index : index + 2] == _DVC_TEMP_MARKER:
            return Path(*parts[:index])
    return project_path.resolve()


def tracking_uri(project_path: Path) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the repository's ``mlflow.db`` (sqlite)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{repository_root(project_path) / 'mlflow.db'}"


def artifact_location(project_path: Path) -> str | None:
    """Artifacts beside the default store (``mlartifacts/``); the server decides otherwise."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (repository_root(project_path) / "mlartifacts").as_uri()
