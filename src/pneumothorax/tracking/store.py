"""Where MLflow runs are recorded: one store per repository, whatever the working copy.

And nowhere else: MLflow's usage reporting is off (:func:`no_usage_reporting`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from pneumothorax.config.project import repository_root

#: Usage reporting off: MLflow's own switch (read when MLflow is imported), and the common
#: ``DO_NOT_TRACK`` convention (MLflow itself honours it only as "true").
_NO_USAGE_REPORTING = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


def no_usage_reporting() -> None:
    """Turn MLflow's usage reporting off, unless the environment says otherwise already.

    Patient-data projects report nothing. Both processes that import MLflow call it first:
    a stage (``settings.py``) and its writer, which the raw manifest may have started in
    DVC's environment, not the stage's.
    """
    for name, value in _NO_USAGE_REPORTING.items():
        os.environ.setdefault(name, value)


def tracking_uri(project_path: Path) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the repository's ``mlflow.db`` (sqlite)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{repository_root(project_path) / 'mlflow.db'}"


@contextlib.contextmanager
def setting_up(uri: str) -> Iterator[None]:
    """Hold the right to set a local sqlite store up, against every other process.

    MLflow creates a new store's tables (and migrates an older one) when a process first
    opens it, and two processes doing that at once fail ("duplicate column name"); two that
    both find no experiment both create it, and the second fails. Stages of two DVC
    commands (``dvc exp run --run-all --jobs 2``) open the store at the same moment, so
    opening it and finding or creating the experiment happen under one lock: filelock's,
    on ``<store>.lock`` beside the store. Other stores (a server) are not locked here.

    Args:
        uri: The tracking URI.
    """
    path = _sqlite_file(uri)
    if path is None:
        yield
        return
    from filelock import FileLock  # here: a stage imports this module, and only writers lock

    path.parent.mkdir(parents=True, exist_ok=True)
    # A minute: a set-up takes about a second; a lock held longer is a hung process.
    with FileLock(f"{path}.lock", timeout=60):
        yield


def _sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` (or ``sqlite+<driver>:///``) URI; None: another kind of
    store, or one in memory (``:memory:``, or no file name)."""
    scheme, separator, rest = uri.partition(":///")
    if not separator or scheme.split("+", 1)[0] != "sqlite":
        return None
    database = unquote(rest.split("?", 1)[0])
    return Path(database) if database not in ("", ":memory:") else None


def artifact_location(project_path: Path) -> str | None:
    """Artifacts beside the default store (``mlartifacts/``); the server decides otherwise."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (repository_root(project_path) / "mlartifacts").as_uri()


#: Folders of a project's own store where MLflow writes artifacts (``artifact_location``
#: above, and MLflow's default for the "Default" experiment).
_ARTIFACT_FOLDERS = ("mlartifacts", "mlruns")
#: Columns of MLflow's sqlite schema that hold an absolute artifact location.
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location", "experiment_id"),
    ("runs", "artifact_uri", "run_uuid"),
    ("logged_models", "artifact_location", "model_id"),
)


def relocate_store(project_path: Path) -> int:
    """Point the project's own MLflow store at its artifacts, wherever the project now is.

    A sqlite store records each experiment's and run's artifact location as an absolute
    path, so after ``cp -a`` or ``mv`` of the project, new runs would keep writing into
    the original folder (or fail, once it is gone), and earlier runs' artifacts would not
    be found. MLflow has no API to change an experiment's artifact location, so the
    locations under another project folder (``<old>/mlartifacts/...``, ``<old>/mlruns/...``)
    are rewritten to this one in the store's tables. Artifacts travel with the folder,
    so every run, earlier ones included, finds its files again. Only the project's
    default store is touched, never a ``$MLFLOW_TRACKING_URI`` server.

    Returns:
        How many locations were rewritten (0 when the store is where it was written).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return 0
    root = repository_root(project_path)
    database = root / "mlflow.db"
    if not database.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as db, db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        changed = 0
        for table, column, key in _LOCATION_COLUMNS:
            if table not in tables:
                continue
            rows = db.execute(f"SELECT {key}, {column} FROM {table}").fetchall()
            for row_id, location in rows:
                moved = _moved_location(location, root)
                if moved is not None:
                    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (moved, row_id))
                    changed += 1
    return changed


def _moved_location(location: str | None, root: Path) -> str | None:
    """``location`` with its project folder replaced by ``root`` (None: already there, or not ours).

    The project folder is what precedes the last ``mlartifacts``/``mlruns`` component.
    """
    if not location:
        return None
    is_uri = location.startswith("file://")
    path = Path(unquote(urlparse(location).path)) if is_uri else Path(location)
    if not path.is_absolute():
        return None
    parts = path.parts
    found = [i for i, part in enumerate(parts) if part in _ARTIFACT_FOLDERS and i > 0]
    if not found or Path(*parts[: found[-1]]) == root:
        return None
    moved = root.joinpath(*parts[found[-1] :])
    return moved.as_uri() if is_uri else str(moved)
