"""The MLflow writer shared by the stages of one DVC command (``Tracker`` under DVC).

The stages run under a real process whose command line is ``dvc ...`` (a script named
``dvc``, as DVC's console script is), which is how a stage finds its DVC command; each
stage is a real child interpreter that records a run through a real :class:`Tracker` in the
test's sqlite store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import psutil
import pytest

#: One stage: a run named argv[2] in experiment "shared", one metric; prints what it saw.
_STAGE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from pneumothorax.tracking.tracker import Tracker

    tracker = Tracker()
    tracker.configure(project_path=Path(sys.argv[1]), experiment="shared", params={"a": 1})
    tracker.start_runs(name=sys.argv[2], command="kedro run", tags={}, provenance={})
    tracker.log_metrics("run", {"stage.m": 1.0})
    seen = {"shared": tracker.shared_writer_pid, "fork": tracker.pid}
    outcome = tracker.finish("FINISHED")
    print(json.dumps({**seen, "failure": outcome.failure}), flush=True)
    """
)

#: A ``dvc`` that runs each argument as a stage (a child interpreter running _STAGE), or,
#: for ``kill``, kills the shared writer the last stage reported.
_FAKE_DVC = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time

    stage_code, project, steps = sys.argv[1], sys.argv[2], sys.argv[3:]
    last = None
    for step in steps:
        if step == "kill":
            os.kill(last["shared"], signal.SIGKILL)
            continue
        out = subprocess.run(
            [sys.executable, "-c", stage_code, project, step],
            check=True, capture_output=True, text=True,
        ).stdout
        last = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(last), flush=True)
    """
)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path: the stages' TMPDIR, where sockets go."""
    with tempfile.TemporaryDirectory(prefix="sw", dir="/tmp") as folder:
        yield Path(folder)


def _run_dvc(tmp_path: Path, short_tmp: Path, *steps: str) -> list[dict]:
    """Run the fake ``dvc`` over ``steps``; each stage's report, and the dvc's pid."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    dvc = bin_dir / "dvc"
    dvc.write_text(f"#!{sys.executable}\n{_FAKE_DVC}")
    dvc.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    env.pop("DVC_EXP_NAME", None)
    result = subprocess.run(
        [str(dvc), _STAGE, str(tmp_path), *steps],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie":
            return True
        time.sleep(0.05)
    return False


def _stage_runs() -> dict[str, mlflow.entities.Run]:
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("shared")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return {run.info.run_name: run for run in runs}


def test_the_stages_of_one_dvc_command_share_one_writer_which_ends_with_it(
    tmp_path: Path, short_tmp: Path
) -> None:
    first, second = _run_dvc(tmp_path, short_tmp, "images", "metadata")
    assert first["failure"] is None and second["failure"] is None
    # One shared writer; each stage served by a fork of its own.
    assert first["shared"] is not None and first["shared"] == second["shared"]
    assert len({first["shared"], first["fork"], second["fork"]}) == 3
    runs = _stage_runs()
    images, metadata = runs["images"], runs["metadata"]
    assert images.info.status == metadata.info.status == "FINISHED"
    assert images.data.metrics == metadata.data.metrics == {"stage.m": 1.0}
    # Both stages are children of the DVC command's one entry.
    parent = images.data.tags["mlflow.parentRunId"]
    assert metadata.data.tags["mlflow.parentRunId"] == parent
    assert runs[_parent_name(runs, parent)].data.params == {"a": "1"}
    # The DVC command has ended: so has its writer, which removed its socket.
    assert _gone(first["shared"])
    assert list(short_tmp.iterdir()) == []


def test_a_stage_after_the_shared_writer_died_starts_another(
    tmp_path: Path, short_tmp: Path
) -> None:
    first, second = _run_dvc(tmp_path, short_tmp, "images", "kill", "metadata")
    assert second["failure"] is None
    assert second["shared"] not in (None, first["shared"])
    runs = _stage_runs()
    assert runs["metadata"].info.status == "FINISHED"
    assert runs["metadata"].data.metrics == {"stage.m": 1.0}
    # Still one entry for the DVC command.
    assert (
        runs["metadata"].data.tags["mlflow.parentRunId"]
        == runs["images"].data.tags["mlflow.parentRunId"]
    )
    assert _gone(second["shared"])
    assert list(short_tmp.iterdir()) == []


def test_a_stage_killed_mid_run_leaves_its_run_failed_and_the_writer_serving(
    tmp_path: Path, short_tmp: Path
) -> None:
    """The fork serving a stage that dies marks its run FAILED; the next stage is served."""
    killer = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from pneumothorax.tracking.tracker import Tracker

        tracker = Tracker()
        tracker.configure(project_path=Path(sys.argv[1]), experiment="shared", params={})
        tracker.start_runs(name=sys.argv[2], command="kedro run", tags={}, provenance={})
        tracker.connected()  # the runs are being created: now die without a word
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    dvc.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            """
            import json, subprocess, sys
            killer, stage, project = sys.argv[1:4]
            died = subprocess.run([sys.executable, "-c", killer, project, "images"])
            out = subprocess.run(
                [sys.executable, "-c", stage, project, "metadata"],
                check=True, capture_output=True, text=True,
            ).stdout
            print(json.dumps({"died": died.returncode, **json.loads(out.splitlines()[-1])}))
            """
        )
    )
    dvc.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    env.pop("DVC_EXP_NAME", None)
    result = subprocess.run(
        [str(dvc), killer, _STAGE, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["died"] == -signal.SIGKILL
    assert report["failure"] is None
    deadline = time.monotonic() + 15
    while _stage_runs()["images"].info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = _stage_runs()
    assert runs["images"].info.status == "FAILED"
    assert runs["metadata"].info.status == "FINISHED"
    assert _gone(report["shared"])


def _parent_name(runs: dict[str, mlflow.entities.Run], run_id: str) -> str:
    """The name of the run ``run_id`` among ``runs``."""
    [name] = [name for name, run in runs.items() if run.info.run_id == run_id]
    return name
