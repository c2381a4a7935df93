"""The MLflow writer shared by the stages of one DVC command (``Tracker`` under DVC).

The stages run under a real process whose command line is ``dvc ...`` (a script named
``dvc``, as DVC's console script is), which is how a stage finds its DVC command; each
stage is a real child interpreter that records a run through a real :class:`Tracker` in the
test's sqlite store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import psutil
import pytest

import pneumothorax

#: One stage: a run named argv[2] in experiment "shared", one metric; prints what it saw.
_STAGE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from pneumothorax.tracking.tracker import Tracker

    tracker = Tracker()
    tracker.configure(project_path=Path(sys.argv[1]), experiment="shared", params={"a": 1})
    tracker.start_runs(name=sys.argv[2], command="kedro run", tags={}, provenance={})
    tracker.log_metrics("run", {"stage.m": 1.0})
    seen = {"shared": tracker.shared_writer_pid, "fork": tracker.pid}
    seen["forked_by"] = psutil.Process(seen["fork"]).ppid()
    outcome = tracker.finish("FINISHED")
    print(json.dumps({**seen, "failure": outcome.failure}), flush=True)
    """
)

#: A ``dvc`` that runs each argument as a stage (a child interpreter running _STAGE; a step
#: ``name:VAR=value`` sets VAR for that stage), or, for ``kill``, kills the shared writer the
#: last stage reported, or, for ``pipes``, reports which of that writer and its forks still
#: hold this dvc's stdout or stderr (Linux's /proc), or, for ``block``, makes a folder where
#: the writer's socket would be, or, for ``start``, reports what ``start_shared_writer``
#: returns in a child, or, for ``manifest``, runs the raw_manifest command on the project's
#: ``raw`` folder and reports the writers serving this dvc (:func:`_raw_project`).
_FAKE_DVC = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time

    def held_stdio(writer, timeout=15.0):
        import psutil
        mine = {os.readlink(f"/proc/self/fd/{fd}") for fd in (1, 2)}
        deadline = time.monotonic() + timeout
        while True:  # a fork may hold the stage's stderr for a moment after its answer
            held = []
            server = psutil.Process(writer)
            for process in [server, *server.children(recursive=True)]:
                for fd in os.listdir(f"/proc/{process.pid}/fd"):
                    try:
                        if os.readlink(f"/proc/{process.pid}/fd/{fd}") in mine:
                            held.append(process.pid)
                    except OSError:
                        pass
            if not held or time.monotonic() > deadline:
                return held
            time.sleep(0.05)

    def socket_path():
        import psutil
        from pneumothorax.tracking import tracker
        owner = (os.getpid(), psutil.Process().create_time())
        return tracker.shared_socket_path(owner, tracker._importing_this_package(os.environ))

    def listening(timeout=30.0):  # DVC takes seconds to start the next stage
        deadline = time.monotonic() + timeout
        while not socket_path().exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    args = sys.argv[1:]
    if args[:2] == ["exp", "run"]:  # `dvc exp run -n NAME ...`: the stages read the name
        args = args[4:]
    stage_code, project, steps = args[0], args[1], args[2:]
    last = None
    for step in steps:
        if step == "block":  # a folder where the writer's socket would be
            socket_path().mkdir(parents=True, mode=0o700)
            continue
        if step == "kill":
            os.kill(last["shared"], signal.SIGKILL)
            continue
        if step == "start":  # start_shared_writer() in a child: the pid it returned
            code = "from pneumothorax.tracking.tracker import start_shared_writer as s; print(s())"
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True
            ).stdout.strip()
            listening()
            print(json.dumps({"started": None if out == "None" else int(out)}), flush=True)
            continue
        if step == "manifest":  # the raw_manifest stage's command, then who serves this dvc
            import psutil
            subprocess.run(
                [sys.executable, "-m", "pneumothorax.commands.raw_manifest",
                 f"{project}/raw", f"{project}/manifest.csv", "--params", f"{project}/p.yaml"],
                check=True, cwd=project,  # as DVC runs it: in the project's folder
            )
            listening()
            writers = [
                p.pid for p in psutil.process_iter(["cmdline"])
                if (p.info["cmdline"] or [])[-4:-2] == ["--owner", str(os.getpid())]
            ]
            print(json.dumps({"writers": writers}), flush=True)
            continue
        # "name:VAR=value,...": the stage runs with these variables set.
        name, _, assignments = step.partition(":")
        env = {**os.environ, **dict(a.split("=", 1) for a in assignments.split(",") if a)}
        if step == "pipes":  # who, of the writer and its forks, holds this dvc's stdio
            print(json.dumps({"held": held_stdio(last["shared"])}), flush=True)
            continue
        out = subprocess.run(  # stderr: this dvc's, as DVC's stages have
            [sys.executable, "-c", stage_code, project, name],
            check=True, stdout=subprocess.PIPE, text=True, env=env,
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


def _fake_dvc(tmp_path: Path, short_tmp: Path, code: str) -> tuple[Path, dict[str, str]]:
    """A ``dvc`` running ``code`` (a script named ``dvc``, as DVC's console script is), and
    the environment to run it with: TMPDIR ``short_tmp``, outside any DVC experiment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    dvc = bin_dir / "dvc"
    dvc.write_text(f"#!{sys.executable}\n{code}")
    dvc.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    env.pop("DVC_EXP_NAME", None)
    return dvc, env


def _run_dvc(
    tmp_path: Path,
    short_tmp: Path,
    *steps: str,
    stage: str = _STAGE,
    name: str | None = None,
    unset: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> list[dict]:
    """Run the fake ``dvc`` over ``steps`` with TMPDIR ``short_tmp``; each stage's report.

    ``stage``: the code of each stage (default :data:`_STAGE`); ``name``: run it as
    ``dvc exp run -n NAME``; ``unset`` and ``extra``: variables removed from and added to
    its environment.
    """
    dvc, env = _fake_dvc(tmp_path, short_tmp, _FAKE_DVC)
    env = {k: v for k, v in env.items() if k not in unset} | (extra or {})
    named = ["exp", "run", "-n", name] if name else []
    result = subprocess.run(
        [str(dvc), *named, stage, str(tmp_path), *steps],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
def test_the_writer_holds_no_pipe_of_its_dvc_command(tmp_path: Path, short_tmp: Path) -> None:
    """``subprocess.run(["dvc", "repro"], capture_output=True)`` waits for every holder of
    the pipes: the writer started by the first stage, and its forks once their stage ended,
    hold neither, though each fork writes MLflow's warnings on its stage's stderr."""
    first, after_first, second, after_second = _run_dvc(
        tmp_path, short_tmp, "images", "pipes", "metadata", "pipes"
    )
    assert first["shared"] == second["shared"]
    assert after_first == after_second == {"held": []}


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie":
            return True
        time.sleep(0.05)
    return False


def _eventually(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _processes_mentioning(text: str) -> list[int]:
    """The processes with ``text`` in their command line."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(text in arg for arg in process.info["cmdline"] or []):
            found.append(process.pid)
    return found


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
    assert list(short_tmp.rglob("*.sock")) == []  # the socket is removed


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
    assert list(short_tmp.rglob("*.sock")) == []  # the socket is removed


def _raw_project(tmp_path: Path) -> None:
    """A raw folder and params for the ``manifest`` step (no incremental cache)."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.dcm").write_bytes(b"not read as DICOM here")
    (tmp_path / "p.yaml").write_text("incremental:\n  enabled: false\n")


def test_the_raw_manifest_starts_the_writer_its_dvc_commands_stages_share(
    tmp_path: Path, short_tmp: Path
) -> None:
    """DVC's first stage, the raw manifest, starts the writer; the Kedro stages join it."""
    _raw_project(tmp_path)
    manifest, first, second = _run_dvc(tmp_path, short_tmp, "manifest", "images", "metadata")
    assert (tmp_path / "manifest.csv").read_text().splitlines()[1].startswith("a.dcm,22,")
    [writer] = manifest["writers"]  # started by the command, before any stage
    assert first["shared"] == second["shared"] == writer
    assert first["failure"] is None and second["failure"] is None
    runs = _stage_runs()
    assert runs["images"].info.status == runs["metadata"].info.status == "FINISHED"
    assert (
        runs["images"].data.tags["mlflow.parentRunId"]
        == runs["metadata"].data.tags["mlflow.parentRunId"]
    )
    assert _gone(writer)
    assert list(short_tmp.rglob("*.sock")) == []


def test_in_a_copy_of_the_project_its_stages_join_the_writer_its_raw_manifest_started(
    tmp_path: Path, short_tmp: Path
) -> None:
    """A ``dvc exp run --temp`` copy has its own ``src/``: its stages import it (``kedro
    run`` puts it on ``PYTHONPATH``), and the raw manifest, run in the copy, runs the copy's
    command: both name the same socket."""
    _raw_project(tmp_path)
    package = Path(pneumothorax.__file__).parent
    copy = tmp_path / "src" / "pneumothorax"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    as_kedro_runs_it = f"PYTHONPATH={copy.parent}"
    manifest, first = _run_dvc(tmp_path, short_tmp, "manifest", f"images:{as_kedro_runs_it}")
    [writer] = manifest["writers"]
    assert first["shared"] == writer and first["failure"] is None
    assert _stage_runs()["images"].info.status == "FINISHED"
    assert _gone(writer)


def test_dvc_exp_run_n_names_the_entry_when_the_raw_manifest_started_the_writer(
    tmp_path: Path, short_tmp: Path
) -> None:
    """The name is read by the stage: the writer, started by a command that has ended, no
    longer has the ``dvc`` process among its ancestors."""
    _raw_project(tmp_path)
    manifest, first, second = _run_dvc(
        tmp_path, short_tmp, "manifest", "images", "metadata", name="size-64"
    )
    assert first["shared"] == second["shared"] == manifest["writers"][0]
    runs = _stage_runs()
    parent = runs["images"].data.tags["mlflow.parentRunId"]
    assert runs["metadata"].data.tags["mlflow.parentRunId"] == parent
    assert _parent_name(runs, parent) == "size-64"
    assert _gone(first["shared"])


def test_a_writer_no_stage_joins_ends_with_its_dvc_command(tmp_path: Path, short_tmp: Path) -> None:
    """A ``dvc repro`` with nothing to rerun after the raw manifest leaves no writer behind."""
    _raw_project(tmp_path)
    [manifest] = _run_dvc(tmp_path, short_tmp, "manifest")
    [writer] = manifest["writers"]
    assert _gone(writer, timeout=60)  # it imports MLflow first, then sees DVC gone
    assert list(short_tmp.rglob("*.sock")) == []
    assert _stage_runs_or_none() is None  # it recorded nothing


def test_start_shared_writer_starts_one_under_dvc_and_none_outside(
    tmp_path: Path, short_tmp: Path
) -> None:
    started, again, stage = _run_dvc(tmp_path, short_tmp, "start", "start", "images")
    assert isinstance(started["started"], int)
    assert again == {"started": None}  # one there already
    assert stage["shared"] == started["started"] and stage["failure"] is None
    assert _gone(started["started"])
    # Outside a DVC command: nothing to share a writer with, so none is started.
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    code = "from pneumothorax.tracking.tracker import start_shared_writer as s; print(s())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "None"
    assert list(short_tmp.rglob("*.sock")) == []


#: What turns MLflow's usage reporting off: the project's own variables, and those by which
#: MLflow recognises a CI machine or a test (set here by CI and pytest).
_TELEMETRY_OFF = (
    "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS"
)  # fmt: skip


def test_a_writer_started_in_dvcs_environment_reports_no_usage(
    tmp_path: Path, short_tmp: Path
) -> None:
    """A writer started before any stage (the raw manifest) gets DVC's environment, not
    the one ``settings.py`` gives the stages: it still starts no MLflow usage reporting
    (whose first act is writing an installation id to the user's config folder)."""
    config = tmp_path / "xdg"
    started, stage = _run_dvc(
        tmp_path,
        short_tmp,
        "start",
        "images",  # served by a fork: the writer has imported MLflow
        unset=_TELEMETRY_OFF,
        extra={"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path / "home")},
    )
    assert stage["shared"] == started["started"] and stage["failure"] is None
    assert _gone(started["started"])
    assert not (config / "mlflow").exists()
    assert not (tmp_path / "home").exists()


def _stage_runs_or_none() -> dict[str, mlflow.entities.Run] | None:
    """:func:`_stage_runs`, or None when no stage made the experiment."""
    if mlflow.MlflowClient().get_experiment_by_name("shared") is None:
        return None
    return _stage_runs()


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
    dvc, env = _fake_dvc(
        tmp_path,
        short_tmp,
        textwrap.dedent(
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
        ),
    )
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


def test_a_long_temporary_folder_still_shares_one_writer(tmp_path: Path) -> None:
    """A TMPDIR of 58 characters: a socket path under it would pass AF_UNIX's ~107 bytes."""
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        long_tmp = Path(base) / ("t" * (58 - len(base) - 1))
        long_tmp.mkdir()
        assert len(str(long_tmp)) == 58
        first, second = _run_dvc(tmp_path, long_tmp, "images", "metadata")
        assert first["failure"] is None and second["failure"] is None
        assert first["shared"] is not None and first["shared"] == second["shared"]
        assert _stage_runs()["metadata"].info.status == "FINISHED"
        assert _gone(first["shared"])


def test_each_stage_is_served_with_its_own_environment(tmp_path: Path, short_tmp: Path) -> None:
    """The fork serving a stage runs with that stage's variables, not the first stage's.

    ``mlflow.user`` comes from the login name, which Python reads from ``LOGNAME``/``USER``.
    """
    names = {"LOGNAME": "", "LNAME": "", "USERNAME": ""}
    first, second = _run_dvc(
        tmp_path,
        short_tmp,
        "images:" + ",".join(f"{k}={v}" for k, v in {**names, "USER": "alice"}.items()),
        "metadata:" + ",".join(f"{k}={v}" for k, v in {**names, "USER": "bob"}.items()),
    )
    assert first["shared"] == second["shared"]
    runs = _stage_runs()
    assert runs["images"].data.tags["mlflow.user"] == "alice"
    assert runs["metadata"].data.tags["mlflow.user"] == "bob"


#: A ``dvc`` under which another user (``nobody``) listens first where the stages' shared
#: writer would (in a folder it made in a shared, sticky TMPDIR like /tmp; or, as root could,
#: in the stages' own folder), then runs one stage; prints the stage's report and how many
#: bytes that user's socket received.
_DVC_WITH_IMPOSTOR = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys
    import psutil
    from pneumothorax.tracking import tracker

    stage_code, project, where = sys.argv[1:4]
    owner = (os.getpid(), psutil.Process().create_time())
    path = tracker.shared_socket_path(owner, tracker._importing_this_package(os.environ))
    if where == "our folder":  # made as the stages make it; root may bind in it
        path.parent.mkdir(mode=0o700, exist_ok=True)
    ready, report = os.pipe()
    if os.fork() == 0:
        os.close(ready)
        received = 0
        try:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if where == "our folder":
                listener.bind(str(path))
            os.setgid(65534)
            os.setuid(65534)
            if where == "its folder":
                os.makedirs(path.parent, mode=0o777, exist_ok=True)
                listener.bind(str(path))
            listener.listen(8)  # the socket's owner, to its peers, is who listens
            os.write(report, b"bound\\n")
            connection, _ = listener.accept()
            connection.settimeout(5)
            while chunk := connection.recv(65536):
                received += len(chunk)
        except OSError as err:
            os.write(report, f"{type(err).__name__}\\n".encode())
        finally:
            os.write(report, f"{received}\\n".encode())
            os._exit(0)
    os.close(report)
    reader = os.fdopen(ready)
    bound = reader.readline().strip()
    out = subprocess.run(
        [sys.executable, "-c", stage_code, project, "images"],
        check=True, capture_output=True, text=True, timeout=200,
    ).stdout
    # Wake the impostor's accept if nobody connected to it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
        try:
            poke.connect(str(path))
        except OSError:
            pass
    rest = reader.read().split()
    print(json.dumps({**json.loads(out.splitlines()[-1]), "bound": bound, "received": rest[-1]}))
    """
)


@pytest.mark.parametrize("where", ["its folder", "our folder"])
def test_a_socket_of_another_user_is_never_talked_to(
    tmp_path: Path, short_tmp: Path, where: str
) -> None:
    """Another user who listens first at the shared writer's address learns nothing.

    The stage would send its settings and environment (a server's credentials) there.
    """
    if os.getuid() != 0:
        pytest.skip("needs root, to act as another user")
    short_tmp.chmod(0o1777)  # shared by every user, like /tmp
    dvc, env = _fake_dvc(tmp_path, short_tmp, _DVC_WITH_IMPOSTOR)
    result = subprocess.run(
        [str(dvc), _STAGE, str(tmp_path), where],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["bound"] == "bound"
    assert report["received"] == "0"
    # The stage was served all the same, by a writer of its own user.
    assert report["failure"] is None
    assert _stage_runs()["images"].info.status == "FINISHED"


def test_without_peer_credentials_the_stages_still_share_one_writer(
    tmp_path: Path, short_tmp: Path
) -> None:
    """As on macOS, which has no SO_PEERCRED: the shared writer's pid is unknown, no more."""
    stage = "import socket\ndel socket.SO_PEERCRED\n" + _STAGE
    first, second = _run_dvc(tmp_path, short_tmp, "images", "metadata", stage=stage)
    assert first["failure"] is None and second["failure"] is None
    assert first["shared"] is None and second["shared"] is None
    # Served by two forks all the same, of one writer.
    assert first["fork"] != second["fork"]
    assert first["forked_by"] == second["forked_by"]
    runs = _stage_runs()
    assert runs["images"].info.status == runs["metadata"].info.status == "FINISHED"
    assert (
        runs["images"].data.tags["mlflow.parentRunId"]
        == runs["metadata"].data.tags["mlflow.parentRunId"]
    )
    assert _gone(first["forked_by"])  # the writer ended with the DVC command
    assert list(short_tmp.rglob("*.sock")) == []


def test_a_dvc_command_killed_with_its_stage_before_the_writer_listened(
    tmp_path: Path, short_tmp: Path
) -> None:
    """``kill -9`` of the whole process group (Ctrl-C's reach: DVC and its stage) just after
    the stage asked for its runs, while the new writer still imports MLflow: the writer
    serves the waiting connection all the same, and the run ends FAILED, not lost."""
    stage = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from pneumothorax.tracking.tracker import Tracker

        tracker = Tracker()
        tracker.configure(project_path=Path(sys.argv[1]), experiment="shared", params={})
        tracker.start_runs(name="images", command="kedro run", tags={}, provenance={})
        print(tracker.shared_writer_pid, flush=True)
        time.sleep(120)
        """
    )
    dvc, env = _fake_dvc(
        tmp_path,
        short_tmp,
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2]])\n",
    )
    run = subprocess.Popen(
        [str(dvc), stage, str(tmp_path)],
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert run.stdout is not None
    writer = int(run.stdout.readline())
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert _gone(writer, timeout=60)
    # Its forks (the same command line) too: then the store is left to this test alone.
    assert _eventually(lambda: not _processes_mentioning(str(short_tmp)))
    assert _stage_runs()["images"].info.status == "FAILED"
    assert list(short_tmp.rglob("*.sock")) == []


def test_a_stage_that_cannot_share_a_writer_has_one_of_its_own(
    tmp_path: Path, short_tmp: Path
) -> None:
    """A folder at the socket's path (neither a writer nor a stale socket to remove)."""
    first, second = _run_dvc(tmp_path, short_tmp, "block", "images", "metadata")
    assert first["failure"] is None and second["failure"] is None
    assert first["shared"] is None and second["shared"] is None
    runs = _stage_runs()
    assert runs["images"].info.status == runs["metadata"].info.status == "FINISHED"
    assert runs["images"].data.metrics == runs["metadata"].data.metrics == {"stage.m": 1.0}
    # Still one entry for the DVC command (the group key does not depend on the writer).
    assert (
        runs["images"].data.tags["mlflow.parentRunId"]
        == runs["metadata"].data.tags["mlflow.parentRunId"]
    )


def test_each_stage_records_in_the_store_its_own_environment_names(
    tmp_path: Path, short_tmp: Path
) -> None:
    """``MLFLOW_TRACKING_URI`` differs between the stages: each run lands in its stage's store."""
    stores = {name: tmp_path / f"{name}.db" for name in ("images", "metadata")}
    first, second = _run_dvc(
        tmp_path,
        short_tmp,
        *(f"{name}:MLFLOW_TRACKING_URI=sqlite:///{store}" for name, store in stores.items()),
    )
    assert first["failure"] is None and second["failure"] is None
    assert first["shared"] == second["shared"]
    for name, store in stores.items():
        client = mlflow.MlflowClient(f"sqlite:///{store}")
        experiment = client.get_experiment_by_name("shared")
        assert experiment is not None
        stage_runs = [
            run.info.run_name
            for run in client.search_runs([experiment.experiment_id])
            if "mlflow.parentRunId" in run.data.tags
        ]
        assert stage_runs == [name]
