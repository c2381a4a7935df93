"""The MLflow writer process, through the real ``kedro`` CLI: the stage itself never imports
MLflow (nor its store's SQLAlchemy ORM and alembic), the writer records the run, and a writer
killed mid-run costs a warning (or, with ``tracking.required``, the run). A plain ``kedro run``
forks its writer here (Linux, one thread), which names itself ``mlflow-writer``."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pneumothorax.tracking.writer import PROCESS_NAME
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

#: Modules of MLflow and of its sqlite store that only the writer may import.
_WRITER_ONLY = re.compile(r"^(mlflow|alembic|sqlalchemy\.orm)(\.|$)")


#: ``kedro`` run by ``python -c``, writing the modules of the stage's own process at its exit
#: to the file ``$MODULES_AT_EXIT`` (a writer forked from it ends without exit handlers).
_KEDRO_LISTING_ITS_MODULES = """
import atexit, os, runpy, sys
def listing():
    with open(os.environ["MODULES_AT_EXIT"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(listing)
sys.argv[0] = "kedro"
runpy.run_module("kedro", run_name="__main__", alter_sys=True)
"""


def _runs(project: Project) -> list[tuple[str, str]]:
    with sqlite3.connect(project.path / "mlflow.db") as db:
        return db.execute("SELECT name, status FROM runs ORDER BY start_time").fetchall()


def test_the_stage_process_imports_no_mlflow_and_the_writer_records_the_run(
    project: Project, tmp_path: Path
) -> None:
    listing = tmp_path / "modules.txt"
    project.run(
        sys.executable, "-c", _KEDRO_LISTING_ITS_MODULES, "run", "--pipelines", "images",
        env={**project.env, "MODULES_AT_EXIT": str(listing)},
    )  # fmt: skip
    imported = set(listing.read_text().split())
    assert "pneumothorax.tracking.mlflow_hook" in imported  # the hook did load
    assert sorted(m for m in imported if _WRITER_ONLY.match(m)) == []
    assert ("images", "FINISHED") in _runs(project)
    with sqlite3.connect(project.path / "mlflow.db") as db:
        metrics = {row[0] for row in db.execute("SELECT key FROM metrics")}
    assert "images.files_converted" in metrics


def _kill_writers(stage: subprocess.Popen[str], deadline: float) -> int:
    """Kill every writer the stage starts (a spare one started ahead and the one it
    configures) until the stage ends; how many were killed."""
    killed: set[int] = set()
    while time.monotonic() < deadline and stage.poll() is None:
        try:
            for child in psutil.Process(stage.pid).children(recursive=True):
                if child.pid not in killed and _is_writer(child):
                    child.send_signal(signal.SIGKILL)
                    killed.add(child.pid)
        except psutil.Error:
            pass
        time.sleep(0.01)
    return len(killed)


def _is_writer(process: psutil.Process) -> bool:
    """A writer forked from its stage (named so) or started as a new interpreter."""
    return process.name() == PROCESS_NAME or "pneumothorax.tracking.writer" in process.cmdline()


@pytest.mark.parametrize("required", [False, True])
def test_a_writer_killed_mid_run_costs_a_warning_or_a_required_run(
    project: Project, tmp_path: Path, required: bool
) -> None:
    metrics = project.path / "data/08_reporting/images_metrics.json"
    metrics.unlink(missing_ok=True)
    log = tmp_path / "kedro.log"
    args = ["kedro", "run", "--pipelines", "images"]
    if required:
        args += ["--params", "tracking.required=true"]
    with log.open("w") as out:
        stage = subprocess.Popen(
            args, cwd=project.path, env=project.env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            killed = _kill_writers(stage, time.monotonic() + 300)
            code = stage.wait(timeout=60)
        finally:
            if stage.poll() is None:
                stage.kill()
    output = log.read_text()
    assert killed >= 1, output[-5000:]
    ended = "recording the run failed (the MLflow writer process ended with exit code -9)"
    assert ended in output, output[-5000:]
    if required:
        assert code != 0, output[-5000:]
        assert "tracking.required is true" in output
    else:
        assert code == 0, output[-5000:]
        assert "not recorded in MLflow" in output
        assert metrics.is_file()  # the data work is whole


@pytest.mark.parametrize("required", [False, True])
def test_a_corrupt_store_costs_a_warning_or_stops_a_required_run_before_any_node(
    project: Project, tmp_path: Path, required: bool
) -> None:
    copy = project.copy_to(tmp_path / "copy")
    (copy.path / "mlflow.db").write_bytes(b"not a database, e.g. a truncated copy" * 100)
    metrics = copy.path / "data/08_reporting/images_metrics.json"
    metrics.unlink(missing_ok=True)
    args = ["kedro", "run", "--pipelines", "images"]
    if required:
        args += ["--params", "tracking.required=true"]
    result = copy.run(*args, check=False)
    output = result.stdout + result.stderr
    assert "pointing the local store at this folder failed" in output, output[-5000:]
    if required:
        assert result.returncode != 0
        assert "tracking.required is true" in output
        assert not metrics.exists()  # stopped before the data work
    else:
        assert result.returncode == 0, output[-5000:]
        assert "not recorded in MLflow" in output
        assert metrics.is_file()
