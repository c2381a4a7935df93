"""The MLflow writer: the process that makes every MLflow call of a stage's run.

Started by :class:`pneumothorax.tracking.tracker.Tracker` (docs/design.md, "The MLflow
writer"), in one of three ways:

* ``python -m pneumothorax.tracking.writer --serve SOCKET --owner PID --owner-started T``:
  the writer shared by every stage of one DVC command (the process ``PID``, started at
  ``T``). It imports MLflow and its sqlite store (SQLAlchemy, alembic: about a second of
  CPU) once, then forks for each stage that connects to its Unix socket; it ends when that
  DVC process has.
* :func:`forked`: a plain ``kedro run``'s own writer, a fork of the stage's process (on
  Linux, while that process has a single thread), on two pipes;
* ``python -m pneumothorax.tracking.writer``: a plain ``kedro run``'s own writer where it
  cannot be forked, on the stage's stdin and stdout.

Either way one stage is served the same way: it sends its settings first (when it has
them: MLflow is imported meanwhile), then requests (pickled plain data: :data:`Request`)
without waiting; the writer answers ``("connected", failure, moved)`` once the store is
open, and ``("finished", failure, moved)`` after the last request (``moved``: artifact
locations pointed at this folder); a fork of the shared writer first says
``("writer", None, its pid)``. A failure is ``None`` or a :data:`Failure` mapping; the stage
decides what it costs (a warning, or an error with ``tracking.required``).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import logging
import os
import pickle
import queue
import socket
import struct
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from pneumothorax.config.project import repository_root
from pneumothorax.tracking.experiment_run import (
    GROUP_TAG,
    baseline_params,
    changed_params,
    current_params,
    flatten,
    format_value,
    run_name,
)
from pneumothorax.tracking.outage import fail_fast, first_line, tracking_errors
from pneumothorax.tracking.provenance import dvc_remote_url, raw_data
from pneumothorax.tracking.sklearn_flavour import save_model as save_sklearn_model
from pneumothorax.tracking.sklearn_flavour import sklearn_args
from pneumothorax.tracking.store import (
    artifact_location,
    no_usage_reporting,
    relocate_store,
    setting_up,
    tracking_uri,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.data.dataset_source import DatasetSource

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ``(operation, action, arguments)``: what the stage asks; ``action`` names it in a warning.
Request = tuple[str, str, dict[str, Any]]
#: ``{"action": ..., "reason": first line, "tracking": an outage (else a bug)}``.
Failure = dict[str, Any]

#: Seconds a writer started ahead waits for its stage's settings before it ends.
SETTINGS_TIMEOUT = 60.0
#: The name a forked writer gives itself (Linux: at most 15 bytes), where ``ps`` shows it.
PROCESS_NAME = "mlflow-writer"
#: MLflow refuses longer param values.
MAX_PARAM_LENGTH = 6000
#: MLflow refuses longer tag values.
MAX_TAG_LENGTH = 8000


@dataclass(frozen=True)
class RunIds:
    """The MLflow runs a stage logs to.

    Attributes:
        run: This stage's run.
        entry: The experiment's entry: the parent run of a ``dvc repro``/``dvc exp run``,
            else ``run`` itself (a plain ``kedro run``).
    """

    run: str
    entry: str


class Writer:
    """Every MLflow call of one stage, in the order the stage asked for them.

    The first tracking error is kept (:attr:`failure`) and every request after it is
    skipped but the runs' end (one quick try, so a store still up does not keep them
    "RUNNING").
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Take the stage's settings.

        Args:
            config: ``project_path``, ``experiment`` (name), ``params`` (as written),
                ``group`` (the stage's :func:`~pneumothorax.tracking.experiment_run.group_key`),
                ``exp_name`` (:func:`~pneumothorax.tracking.experiment_run.given_exp_name`
                as the stage found it).
        """
        self._project_path = Path(config["project_path"])
        self._experiment = str(config["experiment"])
        self._params: dict[str, Any] = dict(config["params"])
        # The stage's DVC command (see group_key): this process may serve several stages.
        self._group: str | None = config.get("group")
        self._exp_name: str | None = config.get("exp_name")
        self._errors: tuple[type[BaseException], ...] = ()
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._runs: RunIds | None = None
        self.failure: Failure | None = None
        self.moved = 0

    def connect(self) -> None:
        """Import MLflow, point the local store at this folder, open the experiment."""
        self._errors = tracking_errors()
        self.moved = (
            self._guarded(
                "pointing the local store at this folder", relocate_store, self._project_path
            )
            or 0
        )
        self._guarded("connecting to the tracking store", self._connect)

    def handle(self, operation: str, action: str, args: dict[str, Any]) -> None:
        """Carry out one request (skipped once tracking failed).

        Raises:
            ValueError: An unknown operation (a bug of the stage's side).
        """
        handlers: dict[str, Callable[..., None]] = {
            "start": self._start_runs,
            "params": self._log_params_of,
            "metrics": self._log_metrics,
            "artifact": self._log_artifact,
            "model": self._log_model,
            "prepare_model": self._prepare_model,
            "thumbnails": self._log_thumbnails,
            "carry": self._carry_metrics,
        }
        if operation not in handlers:
            raise ValueError(f"unknown request {operation!r}")
        if self._client is None and operation != "start":
            return
        self._guarded(action, handlers[operation], **args)

    def finish(self, status: str) -> None:
        """End this stage's run, then the entry (best effort after a failure)."""
        runs, self._runs = self._runs, None
        if runs is None or self._client is None:
            return
        for run_id in dict.fromkeys([runs.run, runs.entry]):
            if status == "FINISHED" and self.failure is None:
                self._guarded("ending the run", self._client.set_terminated, run_id, status)
            else:
                # After a failure (reported already) or in a failed pipeline: one quick
                # try, so a store that is still up does not keep the run "RUNNING".
                with contextlib.suppress(*self._errors):
                    self._client.set_terminated(run_id, status)

    # -- failures ------------------------------------------------------------------------

    def _guarded(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Call ``fn`` unless tracking failed; the first tracking error is kept."""
        if self.failure is not None or not self._errors:
            return None
        try:
            return fn(*args, **kwargs)
        except self._errors as err:
            self.failure = {"action": action, "reason": first_line(err), "tracking": True}
            fail_fast()
            return None

    # -- MLflow calls ----------------------------------------------------------------------

    def _connect(self) -> None:
        import mlflow

        uri = tracking_uri(self._project_path)
        # Before set_tracking_uri, which exports MLFLOW_TRACKING_URI: that variable means
        # "a server's store", whose server decides where artifacts go.
        location = artifact_location(self._project_path)
        # MLflow's fluent API (the model's ``mlflow.sklearn.log_model``) uses it too.
        mlflow.set_tracking_uri(uri)
        # The store's first open (MlflowClient opens it) and the experiment: one process at
        # a time (see setting_up).
        with setting_up(uri):
            client = mlflow.MlflowClient(uri)
            experiment = client.get_experiment_by_name(self._experiment)
            if experiment is None:
                self._experiment_id = client.create_experiment(
                    self._experiment, artifact_location=location
                )
            else:
                if experiment.lifecycle_stage == "deleted":
                    client.restore_experiment(experiment.experiment_id)
                self._experiment_id = experiment.experiment_id
        self._client = client

    def _start_runs(
        self, name: str, command: str, tags: dict[str, Any], provenance: dict[str, str]
    ) -> None:
        """Resume (or create) the experiment's entry, then create this stage's run in it.

        Args:
            name: The stage run's name (its pipelines).
            command: The ``kedro run`` command line (``mlflow.source.name``).
            tags: Kedro's run params, plain.
            provenance: Git and DVC tags, read by the stage before any node wrote.
        """
        if self._client is None or self._experiment_id is None:
            return
        parent = self._resume_parent(provenance)
        tags = {
            **tags,
            **provenance,
            "mlflow.source.name": command,
            "mlflow.source.type": "LOCAL",
            "mlflow.user": _user(),
        }
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = self._client.create_run(
            self._experiment_id,
            run_name=name,
            tags={k: str(v)[:MAX_TAG_LENGTH] for k, v in tags.items()},
        ).info.run_id
        self._runs = RunIds(run=run, entry=parent or run)
        if parent is None:
            self._log_raw_data(run)  # a plain `kedro run`: the run is the entry

    def _resume_parent(self, provenance: Mapping[str, str]) -> str | None:
        """The experiment's entry for this DVC command, created by its first stage."""
        key = self._group
        if key is None or self._client is None or self._experiment_id is None:
            return None
        found = self._client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{GROUP_TAG}` = '{key}'", max_results=1
        )
        changes = changed_params(
            current_params(self._project_path), baseline_params(self._project_path)
        )
        data = raw_data(self._project_path)
        name = self._exp_name or run_name(changes, data[0].md5 if data else None)
        if found:
            parent = found[0].info.run_id
            self._client.update_run(parent, status="RUNNING")
        else:
            parent = self._client.create_run(
                self._experiment_id, run_name=name, tags={GROUP_TAG: key}
            ).info.run_id
        self._log_params(
            parent, {key: format_value(value) for key, value in flatten(self._params).items()}
        )
        if not found:
            # Tagged once, before any stage writes: later stages rewrite the git-tracked
            # metrics files, and `git.dirty` would then say "true" of every reproduction.
            for tag, value in {
                **provenance,
                "mlflow.source.name": _dvc_command(),
                "mlflow.source.type": "LOCAL",
                "mlflow.user": _user(),
                "pneumothorax.changed_params": run_name(changes),
            }.items():
                self._client.set_tag(parent, tag, value)
            self._log_raw_data(parent)
        return parent

    def _resolve(self, which: str | Iterable[str]) -> list[str]:
        """``"run"``/``"entry"`` (or several) -> their run ids, each once."""
        if self._runs is None:
            return []
        names = [which] if isinstance(which, str) else list(which)
        return list(dict.fromkeys(getattr(self._runs, name) for name in names))

    def _log_params_of(self, which: str, params: Mapping[str, Any]) -> None:
        for run_id in self._resolve(which):
            self._log_params(run_id, params)

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        if self._client is None:
            return
        self._client.log_batch(
            run_id, params=[Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        )

    def _log_metrics(
        self, which: str | Iterable[str], metrics: Mapping[str, float], timestamp: int
    ) -> None:
        for run_id in self._resolve(which):
            self._log_metric_batch(run_id, metrics, timestamp)

    def _log_metric_batch(self, run_id: str, metrics: Mapping[str, float], timestamp: int) -> None:
        from mlflow.entities import Metric

        if self._client is None or not metrics:
            return
        batch = [Metric(name, float(value), timestamp, 0) for name, value in metrics.items()]
        self._client.log_batch(run_id, metrics=batch)

    def _log_artifact(self, which: str, path: str, artifact_path: str | None) -> None:
        if self._client is None:
            return
        for run_id in self._resolve(which):
            self._client.log_artifact(run_id, path, artifact_path)

    def _log_model(self, which: str, model: bytes, name: str, args: dict[str, Any]) -> None:
        import mlflow
        import mlflow.sklearn

        # The stage's own pickle of the model it saved (our classes import from the package).
        estimator = pickle.loads(model)
        for run_id in self._resolve(which):
            # log_model logs to MLflow's active run only: the stage's, for this one call.
            with mlflow.start_run(run_id=run_id):
                mlflow.sklearn.log_model(estimator, name=name, **sklearn_args(args))

    def _prepare_model(self) -> None:
        """Save a one-leaf model, so that the stage's own model logs without waiting.

        ``log_model`` imports the serialiser (skops, 0.9 s) and maps every installed
        distribution to its modules to check the requirements (0.8 s), each once per
        process; the stage had both already when it logged its model itself. Done while
        the stage trains; a failure here only costs that time later, never the run.
        """
        from sklearn.dummy import DummyClassifier

        model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
        with tempfile.TemporaryDirectory() as folder, contextlib.suppress(Exception):
            save_sklearn_model(model, str(Path(folder) / "model"), {})

    def _log_raw_data(self, run_id: str) -> None:
        """Log each raw DVC folder as the run's input (the UI's Datasets column).

        Name: the folder; digest: DVC's md5 of it (as in its ``.dvc`` file); source: where
        the default DVC remote keeps that version (or the folder itself, with no remote).
        """
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        if self._client is None:
            return
        remote = dvc_remote_url(repository_root(self._project_path))
        inputs = []
        for data in raw_data(self._project_path):
            uri = (
                data.remote_object(remote)
                if remote
                else (self._project_path / data.path).resolve().as_posix()
            )
            # MLflow's Dataset marks `profile` abstract without enforcing it (no ABCMeta), and
            # MetaDataset, its dataset for data it only describes, has none: fine, not to mypy.
            meta = MetaDataset(  # type: ignore[abstract]
                source=dataset_source(uri), name=data.name, digest=data.md5
            )
            inputs.append(
                DatasetInput(
                    Dataset(**meta.to_dict()), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "raw")]
                )
            )
        if inputs:
            self._client.log_inputs(run_id, datasets=inputs)

    def _log_thumbnails(self, which: str, images: Mapping[str, bytes]) -> None:
        from PIL import Image

        if self._client is None:
            return
        for run_id in self._resolve(which):
            for key, png in sorted(images.items()):
                with Image.open(io.BytesIO(png)) as image:
                    self._client.log_image(run_id, image.copy(), key=key, step=0)

    def _carry_metrics(self, which: str, metrics: Mapping[str, float], timestamp: int) -> None:
        """Log the stages' current metrics that the entry does not have yet."""
        if self._client is None:
            return
        for run_id in self._resolve(which):
            have = self._client.get_run(run_id).data.metrics
            carried = {name: value for name, value in metrics.items() if name not in have}
            self._log_metric_batch(run_id, carried, timestamp)


def save_model(model: bytes, path: str, args: Mapping[str, Any]) -> Failure | None:
    """``mlflow.sklearn.save_model`` of the stage's pickled model to ``path``; None if written.

    Any error is returned, not raised: the stage then saves the model itself, and a real
    problem (a full disk) is raised there, in the stage, where it stops the run.
    """
    try:
        save_sklearn_model(pickle.loads(model), path, args)  # the stage's own pickle
    except Exception as err:
        return {"action": "saving the model", "reason": first_line(err), "tracking": False}
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's anonymous uid)
        return "unknown"


def _dvc_command() -> str:
    """The DVC command an experiment's entry comes from (its ``mlflow.source.name``)."""
    return "dvc exp run" if os.environ.get("DVC_EXP_NAME") else "dvc repro"


def dataset_source(uri: str) -> DatasetSource:
    """MLflow's own dataset source for ``uri`` (S3, HTTP, a local path), else a DVC one."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.exceptions import MlflowException

    from pneumothorax.tracking.dvc_source import DvcRemoteSource

    try:
        with warnings.catch_warnings():
            # A local path matches MLflow's two local-artifact resolvers, which are the same
            # class; it says so in a UserWarning on every run. Only that one is ignored.
            warnings.filterwarnings(
                "ignore",
                message="The specified dataset source can be interpreted in multiple ways",
                category=UserWarning,
                module=r"mlflow\.data\.dataset_source_registry",
            )
            return resolve_dataset_source(uri)
    except MlflowException:  # e.g. ssh://, which MLflow has no source type for
        return DvcRemoteSource(uri)


# -- the process ---------------------------------------------------------------------------


def _drain(stream: IO[bytes], requests: queue.Queue[Any]) -> None:
    """Move every request into ``requests`` as it arrives; None at the end of the pipe.

    A thread of its own, so the stage's writes never wait on a full pipe while this
    process imports MLflow or waits on the store.
    """
    while True:
        try:
            requests.put(pickle.load(stream))  # our own parent's plain data
        except (EOFError, OSError, pickle.UnpicklingError):
            requests.put(None)
            return


def _serve(writer: Writer, requests: queue.Queue[Any], answer: Callable[[Any], None]) -> None:
    """Carry out requests until ``finish`` (answered) or the stage's end of the pipe."""
    while True:
        request = requests.get()
        if request is None:  # the stage ended without "finish": close its runs as failed
            writer.finish("FAILED")
            return
        operation, action, args = request
        if operation == "finish":
            writer.finish(args["status"])
            answer(("finished", writer.failure, writer.moved))
            return
        if operation == "save_model":  # a local folder: whether tracking works or not
            answer((f"saved {args['path']}", save_model(**args), 0))
            continue
        try:
            writer.handle(operation, action, args)
        except Exception as err:  # a bug, not an outage: the stage raises it
            traceback.print_exc()
            writer.failure = writer.failure or {
                "action": action,
                "reason": f"{type(err).__name__}: {first_line(err)}",
                "tracking": False,
            }


def _preload() -> None:
    """Import MLflow and its sqlite store's ORM and migrations before the settings arrive.

    With MLflow's usage reporting off unless the environment says otherwise
    (:func:`~pneumothorax.tracking.store.no_usage_reporting`).
    """
    no_usage_reporting()
    import alembic.command  # noqa: F401
    import mlflow.store.db.utils
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

    tracking_errors()


def main() -> int:
    """Serve one stage through stdin and stdout (a plain ``kedro run``'s own writer, started
    as a new interpreter where the stage cannot fork one: :func:`forked`).

    The stage starts this process as soon as its hook exists, long before it knows its
    settings; a process whose settings never come (a Kedro command that runs no pipeline)
    ends after :data:`SETTINGS_TIMEOUT` seconds, or as soon as the stage does.
    """
    # Answers go to the original stdout; anything a library prints goes to stderr instead,
    # where it cannot corrupt them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _warnings_to_stderr()
    return _serve_stage(sys.stdin.buffer, answers)


def forked(requests: int, answers: int) -> int:
    """Serve one stage through the pipes ``requests`` and ``answers`` (file descriptors),
    in a fork of the stage's own process (a plain ``kedro run``'s own writer).

    The fork has the interpreter and the modules the stage imported before it (Kedro,
    pydantic, this package) already: only MLflow is left to import. Otherwise it is set up
    as :func:`main`'s new interpreter is: no stdin, anything printed goes to stderr, the
    logging configuration Python starts with; and ``ps``/``top`` call it ``mlflow-writer``.
    """
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    _fresh_logging()
    with contextlib.suppress(OSError):  # the name is a courtesy
        Path("/proc/self/comm").write_text(PROCESS_NAME)
    return _serve_stage(os.fdopen(requests, "rb"), os.fdopen(answers, "wb"))


def _fresh_logging() -> None:
    """Logging as a new interpreter has it, plus warnings to stderr (the stage's handlers,
    levels and log file are not the writer's: its messages look as :func:`main`'s do)."""
    for name in list(logging.root.manager.loggerDict):
        log = logging.getLogger(name)
        log.handlers.clear()
        log.setLevel(logging.NOTSET)
        log.propagate = True
        log.disabled = False
    _warnings_to_stderr(force=True)


def _warnings_to_stderr(*, force: bool = False) -> None:
    """Every writer's logging: warnings and worse, their message alone, on stderr (the
    stage's, so they appear among its own); ``force``: replacing the handlers there are."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr, force=force)


def _serve_stage(stream: IO[bytes], answers: IO[bytes]) -> int:
    """Read the stage's requests from ``stream`` (a thread), import MLflow, serve them."""
    requests: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_drain, args=(stream, requests), daemon=True).start()
    _preload()
    return _session(requests, _answerer(answers))


def serve(path: Path, owner: int, owner_started: float) -> int:
    """Serve every stage of one DVC command: a fork of this process per stage.

    Listens on the Unix socket ``path`` (:func:`pneumothorax.tracking.tracker.shared_socket_path`),
    imports MLflow and its store once, then forks for each connection, so every stage is
    served by a process of its own (its own environment and state, as with a writer per
    stage) that has nothing left to import. Ends when the DVC process ``owner`` (its pid
    and start time) has ended and every stage that connected has its fork, and removes
    its socket.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o077)  # the socket is its user's only
    try:
        listener.bind(str(path))
    except OSError:  # another stage's writer took the address first: it serves
        return 0
    finally:
        os.umask(umask)
    try:
        listener.listen(8)
        _preload()
        listener.settimeout(0.2)
        while True:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:  # reap the forks that are done
                    pass
            try:
                _fork_for(listener.accept()[0], listener)
            except TimeoutError:  # no stage waiting: is the DVC command still there?
                if not _running(owner, owner_started):
                    break
        # Its DVC command ended (killed, maybe, with its stage). Unreachable from now on,
        # this process still serves the stages that connected meanwhile (one killed while
        # MLflow was imported above is waiting): their runs end FAILED, not RUNNING.
        with contextlib.suppress(OSError):
            path.unlink()
        listener.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                _fork_for(listener.accept()[0], listener)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        listener.close()
    return 0


def _fork_for(connection: socket.socket, listener: socket.socket) -> None:
    """Serve the stage on ``connection`` in a fork of this process, which then ends."""
    if os.fork() == 0:
        listener.close()
        os._exit(_serve_connection(connection))
    connection.close()


def _serve_connection(connection: socket.socket) -> int:
    """One stage, in a fork of the shared writer: its stderr, its requests, its answers."""
    code = 1
    with contextlib.suppress(BaseException):
        connection.settimeout(None)
        _, fds, _, _ = socket.recv_fds(connection, 1, 1)
        for fd in fds[:1]:  # the stage's stderr: its warnings go where the stage's own go
            os.dup2(fd, 2)
            os.close(fd)
        _warnings_to_stderr()
        answer = _answerer(connection.makefile("wb"))
        answer(("writer", None, os.getpid()))
        requests: queue.Queue[Any] = queue.Queue()
        threading.Thread(
            target=_drain, args=(connection.makefile("rb"), requests), daemon=True
        ).start()
        code = _session(requests, answer)
        sys.stderr.flush()
    return code


def _running(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` is still running."""
    import psutil

    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < 0.01 and process.status() != "zombie"
    except psutil.Error:
        return False


def _answerer(answers: IO[bytes]) -> Callable[[Any], None]:
    """What sends one answer to the stage."""

    def answer(message: Any) -> None:
        # Length first: the stage reads its end with select, not as a pickle stream.
        frame = pickle.dumps(message)
        with contextlib.suppress(OSError):  # the stage is gone: nobody to tell
            answers.write(struct.pack(">I", len(frame)) + frame)
            answers.flush()

    return answer


def _session(requests: queue.Queue[Any], answer: Callable[[Any], None]) -> int:
    """Read the settings, connect, carry out the requests (MLflow preloaded)."""
    try:
        config = requests.get(timeout=SETTINGS_TIMEOUT)
    except queue.Empty:
        config = None
    if config is None:
        return 0
    # The environment as the stage left it once it had read its settings: a server's
    # login, the fallback from an unreachable server, shorter HTTP retries.
    os.environ.clear()
    os.environ.update(config["env"])
    _stage_mlflow_level()
    with contextlib.suppress(KeyError, OSError):
        os.chdir(config["cwd"])  # the stage's folder (a shared writer's is its first stage's)
    writer = Writer(config)
    writer.connect()
    answer(("connected", writer.failure, writer.moved))
    _serve(writer, requests, answer)
    return 0


def _stage_mlflow_level() -> None:
    """MLflow's loggers at the stage's ``MLFLOW_LOGGING_LEVEL`` (its ``settings.py`` sets it
    from the project's logging config): MLflow read the variable when this process imported
    it, and a shared writer's environment then was not the stage's."""
    level = os.environ.get("MLFLOW_LOGGING_LEVEL", "").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        logging.getLogger("mlflow").setLevel(level)


def _cli(argv: list[str]) -> int:
    """``--serve PATH --owner PID --owner-started T``: the shared writer; else one stage's."""
    if argv[:1] != ["--serve"]:
        return main()
    options = dict(zip(argv[0::2], argv[1::2], strict=True))
    return serve(
        Path(options["--serve"]), int(options["--owner"]), float(options["--owner-started"])
    )


if __name__ == "__main__":
    code = _cli(sys.argv[1:])
    sys.stderr.flush()
    # Every answer is flushed and every MLflow call committed: skip the interpreter's
    # clean-up (garbage collections over MLflow's and SQLAlchemy's objects, ~0.6 s), which
    # the stage would otherwise wait for.
    os._exit(code)
