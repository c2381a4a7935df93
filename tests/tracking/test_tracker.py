"""A plain ``kedro run``'s own writer (``Tracker`` outside DVC): forked from the stage's
process when that may fork (Linux, one thread, no MLflow imported), else a new interpreter;
either way it records the stage's run in the real sqlite store of the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

from pneumothorax.tracking.writer import PROCESS_NAME

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the writer is forked on Linux only"
)

#: One plain stage in a new interpreter: ``before`` (code) first, then a run named argv[2]
#: with one metric; prints how its writer was started and what it reported.
_STAGE = textwrap.dedent(
    """
    import json, os, sys, threading
    from pathlib import Path
    {before}
    import psutil
    from pneumothorax.tracking.tracker import Tracker

    tracker = Tracker()
    tracker.configure(project_path=Path(sys.argv[1]), experiment="own", params={{"a": 1}})
    tracker.start_runs(name=sys.argv[2], command="kedro run", tags={{}}, provenance={{}})
    tracker.connected()  # the writer has named itself by now
    writer = psutil.Process(tracker.pid)
    seen = {{"name": writer.name(), "cmdline": writer.cmdline(), "parent": writer.ppid()}}
    tracker.log_metrics("run", {{"stage.m": 1.0}})
    outcome = tracker.finish("FINISHED")
    print(json.dumps({{**seen, "me": os.getpid(), "failure": outcome.failure}}))
    """
)


def _stage(tmp_path: Path, name: str, before: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    result = subprocess.run(
        [sys.executable, "-c", _STAGE.format(before=before), str(tmp_path), name],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["failure"] is None, report
    client = mlflow.MlflowClient()
    [run] = client.search_runs(
        [client.get_experiment_by_name("own").experiment_id],
        filter_string=f"attributes.run_name = '{name}'",
    )
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"stage.m": 1.0}
    return report


def test_a_single_threaded_stage_forks_its_writer(tmp_path: Path) -> None:
    report = _stage(tmp_path, "forked")
    assert report["name"] == PROCESS_NAME
    assert report["parent"] == report["me"]
    assert "pneumothorax.tracking.writer" not in report["cmdline"]  # no new interpreter


@pytest.mark.parametrize(
    "before",
    [
        # A thread may hold a lock at the fork (a logging handler's, the allocator's).
        "threading.Thread(target=threading.Event().wait, daemon=True).start()",
        # MLflow's cached store (open sqlite connections) must not be shared with a fork.
        "import mlflow",
    ],
    ids=["another thread", "mlflow imported"],
)
def test_a_stage_that_may_not_fork_starts_a_new_interpreter(tmp_path: Path, before: str) -> None:
    report = _stage(tmp_path, "spawned", before)
    assert report["name"] != PROCESS_NAME
    assert report["cmdline"][1:] == ["-m", "pneumothorax.tracking.writer"]
    assert report["parent"] == report["me"]
