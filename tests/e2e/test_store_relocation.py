"""The hook's relocation of the project's own MLflow store, through a real Kedro session.

Each case loads the context of a copy of the project in a subprocess (that is when
``after_context_created`` hooks run), as ``kedro run`` does before any node.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Project, new_project

pytestmark = pytest.mark.e2e

LOAD_CONTEXT = (
    "from pathlib import Path\n"
    "from kedro.framework.session import KedroSession\n"
    "from kedro.framework.startup import bootstrap_project\n"
    "bootstrap_project(Path.cwd())\n"
    "with KedroSession.create(project_path=Path.cwd()) as session:\n"
    "    session.load_context()\n"
    "print('context loaded')\n"
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy(path: Path, extra: dict[str, str] | None = None) -> Project:
    project = new_project(path, exclude=("dvc.lock",), env=extra, git=False)
    project.env["PYTHONPATH"] = str(path / "src")
    return project


def test_an_unreadable_local_store_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    project = _copy(tmp_path / "project")
    (project.path / "mlflow.db").write_bytes(b"not a database, e.g. a truncated copy" * 100)
    result = project.run(sys.executable, "-c", LOAD_CONTEXT, check=False)
    output = result.stdout + result.stderr
    # tracking.required is false: the data work must not depend on the store.
    assert result.returncode == 0, output
    assert "context loaded" in output
    assert "pointing the local store at this folder failed" in output


def test_the_local_fallback_store_is_relocated_when_the_server_is_down(tmp_path: Path) -> None:
    old = tmp_path / "old"
    project = _copy(old)
    project.run(sys.executable, "-c", LOAD_CONTEXT)  # creates the store and its experiment
    with sqlite3.connect(old / "mlflow.db") as db:
        before = {row[0] for row in db.execute("SELECT artifact_location FROM experiments")}
    assert any(str(old / "mlartifacts") in loc for loc in before), before
    new = tmp_path / "new"
    old.rename(new)
    moved = Project(
        path=new,
        env={
            **project.env,
            "PYTHONPATH": str(new / "src"),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}",
        },
    )
    result = moved.run(sys.executable, "-c", LOAD_CONTEXT)
    assert "unreachable" in result.stdout + result.stderr  # it fell back to the local store
    with sqlite3.connect(new / "mlflow.db") as db:
        after = [row[0] for row in db.execute("SELECT artifact_location FROM experiments")]
    assert not [loc for loc in after if str(old) in loc], after
