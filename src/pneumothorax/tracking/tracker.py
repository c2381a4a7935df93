"""The stage's side of the MLflow writer: requests sent without waiting, the verdict at the end.

A :class:`Tracker` talks to a writer process (:mod:`pneumothorax.tracking.writer`) in pickled
plain data (str, numbers, bytes, dicts, lists, tuples), so this process never imports MLflow:

* **Under DVC** (a stage of ``dvc repro`` or ``dvc exp run``), every stage of the DVC command
  shares one writer: the ``raw_manifest`` command, which runs before them, starts it
  (:func:`start_shared_writer`; else the first stage does, ``--serve``), and it stays until
  that DVC process ends. Each stage connects to its Unix socket and is served by a fork of it, which
  has MLflow and its sqlite store imported already: the stages after the first pay neither
  (about a second of CPU each, docs/benchmarks.md).
* **Otherwise** (a plain ``kedro run``), the stage starts its own writer and talks to it
  through two pipes: a fork of this process, which has imported all but MLflow already,
  when it may fork (Linux, one thread), else a new interpreter on its stdin and stdout.

It starts no thread either:
the process pools of the nodes fork only a single-threaded process
(:mod:`pneumothorax.runtime.executors`), so answers are read, with a timeout, only when
waited for. Runs are named symbolically:
``"run"`` is the stage's run, ``"entry"`` the experiment's entry (the parent run of a
``dvc repro``, else the run itself); the writer knows their ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from pneumothorax.tracking.experiment_run import dvc_owner, given_exp_name, group_key
from pneumothorax.tracking.logged import ENTRY, RUN

__all__ = ["ENTRY", "RUN", "Outcome", "Tracker"]

logger = logging.getLogger(__name__)

#: The writer's module, run with this interpreter.
WRITER_MODULE = "pneumothorax.tracking.writer"
#: Seconds to wait for one of the writer's answers (a dead writer is noticed at once).
ANSWER_TIMEOUT = 120.0
#: Seconds to wait for a shared writer just started to listen.
LISTEN_TIMEOUT = 30.0
#: A shared writer needs Unix sockets that pass file descriptors, and fork (not Windows).
_CAN_SHARE = hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds") and hasattr(os, "fork")
#: The longest socket path used: ``sun_path`` holds 108 bytes on Linux, 104 on macOS.
_MAX_SOCKET_PATH = 100
#: What a warning calls a failure that no single request caused.
_RECORDING = "recording the run"


@dataclass(frozen=True)
class Outcome:
    """What the writer reported.

    Attributes:
        failure: None, or ``{"action": ..., "reason": ..., "tracking": bool}``: the first
            request that failed, its error's first line, and whether it was an outage
            (else a bug of ours).
        moved: How many artifact locations the writer pointed at this project's folder.
    """

    failure: dict[str, Any] | None
    moved: int = 0


class Tracker:
    """A handle on this stage's MLflow writer process; what datasets log through.

    Every ``log_*`` method returns at once; the writer works through the requests in
    order. A writer that cannot start, dies or stops answering is a tracking failure
    like any other (:meth:`finish` reports it).
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        """Reach a writer, which imports MLflow until :meth:`configure` hands it its work.

        Under DVC, the DVC command's shared writer (started by the raw manifest, or now
        if there is none yet); otherwise a writer of this stage's own.

        Args:
            env: The writer's environment at start (default: this process's).
        """
        self._action = _RECORDING
        self._received = bytearray()
        self._ended_pipe = False
        self._outcomes: dict[str, Outcome] = {}
        self._start_failure: dict[str, Any] | None = None
        self._process: subprocess.Popen[bytes] | _ForkedWriter | None = None
        self._socket: socket.socket | None = None
        self._requests: IO[bytes] | None = None
        self._server_pid: int | None = None
        self._fork_pid: int | None = None
        env = _importing_this_package(os.environ if env is None else env)
        # The DVC command above this stage, looked up once: it names the shared writer and
        # the stage's group (configure).
        self._owner = owner = dvc_owner()
        if owner is not None and _CAN_SHARE:
            try:
                self._socket, self._server_pid = _join_shared_writer(owner, env)
                self._requests = self._socket.makefile("wb")
            except OSError as err:
                # Sharing only saves time: a stage that cannot share has a writer of its own.
                log = logger.warning if isinstance(err, PermissionError) else logger.debug
                log("Not sharing the MLflow writer of this DVC command: %s", err)
        try:
            if self._socket is None:
                self._process = _own_writer(env)
                self._requests = self._process.stdin
        except OSError as err:
            self._start_failure = _failure("starting the MLflow writer process", str(err))

    @property
    def alive(self) -> bool:
        """Whether the writer is still there (a spare one ends if never configured)."""
        if self._socket is not None:
            return not self._ended_pipe and _socket_open(self._socket)
        return self._process is not None and self._process.poll() is None

    @property
    def shared_writer_pid(self) -> int | None:
        """The process id of the DVC command's shared writer (None: not shared)."""
        return self._server_pid

    def configure(
        self,
        *,
        project_path: Path,
        experiment: str,
        params: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Hand the writer its settings; it connects to the store at once.

        Args:
            project_path: The Kedro project (its repository's store is the default).
            experiment: The MLflow experiment's name.
            params: The parameters as params.yaml wrote them (the entry logs them all).
            env: The environment MLflow runs with (default: this process's, as it is now).
        """
        env = dict(os.environ if env is None else env)
        self._write(
            {
                "project_path": str(project_path),
                "experiment": experiment,
                "params": dict(params),
                "env": env,
                "group": group_key(env, self._owner),
                # Read here, where the `dvc` command is an ancestor: the writer's process
                # may have been started by another command and outlived it.
                "exp_name": given_exp_name() if self._owner is not None else None,
                "cwd": os.getcwd(),
            }
        )

    @property
    def pid(self) -> int | None:
        """The process id of the writer serving this stage (None if none could start).

        Under DVC, the shared writer's fork that serves this stage (it says so first).
        """
        if self._socket is not None:
            self._await("writer", ANSWER_TIMEOUT)
            return self._fork_pid
        return self._process.pid if self._process is not None else None

    # -- what datasets call ------------------------------------------------------------

    def log_metrics(self, which: str | tuple[str, ...], metrics: Mapping[str, float]) -> None:
        """Log ``{name: value}`` (step 0, now) on ``which`` run(s): ``"run"``, ``"entry"``."""
        self._send(
            "metrics",
            which=which,
            metrics={k: float(v) for k, v in metrics.items()},
            timestamp=int(time.time() * 1000),
        )

    def log_artifact(self, which: str, path: str | Path, artifact_path: str | None = None) -> None:
        """Log the file at ``path`` under ``artifact_path`` of ``which`` run."""
        self._send("artifact", which=which, path=str(path), artifact_path=artifact_path)

    def log_model(self, which: str, model: Any, name: str, **args: Any) -> None:
        """``mlflow.sklearn.log_model(model, name=name, **args)`` on ``which`` run.

        ``model`` travels pickled (bytes); ``args`` must be plain data.
        """
        self._send("model", which=which, model=pickle.dumps(model), name=name, args=args)

    def prepare_model(self) -> None:
        """Let the writer load what logging a model needs, while the stage works."""
        with self.acting("preparing to log the model"):
            self._send("prepare_model")

    def save_model(self, model: Any, path: str | Path, **args: Any) -> bool:
        """Have the writer run ``mlflow.sklearn.save_model(model, path, **args)``; wait for it.

        The writer has MLflow and its serialiser imported already, which this process would
        take 1.5-2 s to import. It writes whether the store works or not (a local folder);
        a writer that cannot (gone, or the save raised) leaves the folder to the caller.

        Returns:
            Whether the folder was written.
        """
        path = str(path)
        self._send("save_model", model=pickle.dumps(model), path=path, args=args)
        outcome = self._await(f"saved {path}", ANSWER_TIMEOUT)
        if outcome.failure is not None:
            logger.debug("The MLflow writer did not save the model: %s", outcome.failure)
            return False
        return True

    # -- what the hook calls -----------------------------------------------------------

    @contextlib.contextmanager
    def acting(self, action: str) -> Iterator[None]:
        """Name the requests sent inside the block (``logging images_metrics``) in warnings."""
        before, self._action = self._action, action
        try:
            yield
        finally:
            self._action = before

    def start_runs(
        self, name: str, command: str, tags: Mapping[str, Any], provenance: Mapping[str, str]
    ) -> None:
        """Resume (or create) the experiment's entry and start this stage's run in it."""
        with self.acting("starting the run"):
            self._send(
                "start", name=name, command=command, tags=dict(tags), provenance=dict(provenance)
            )

    def log_params(self, which: str, params: Mapping[str, Any]) -> None:
        """Log ``{name: value}`` params (as strings) on ``which`` run."""
        with self.acting("logging params"):
            self._send("params", which=which, params={k: str(v) for k, v in params.items()})

    def log_thumbnails(self, which: str, images: Mapping[str, bytes]) -> None:
        """Log each PNG as an image under its key, step 0."""
        with self.acting("logging thumbnails"):
            self._send("thumbnails", which=which, images=dict(images))

    def carry_metrics(self, which: str, metrics: Mapping[str, float]) -> None:
        """Log the metrics ``which`` run does not have yet."""
        with self.acting("carrying metrics"):
            self._send(
                "carry",
                which=which,
                metrics={k: float(v) for k, v in metrics.items()},
                timestamp=int(time.time() * 1000),
            )

    def connected(self, timeout: float = ANSWER_TIMEOUT) -> Outcome:
        """Wait for the writer to have opened the store; what it reported."""
        return self._await("connected", timeout)

    def finish(self, status: str, timeout: float = ANSWER_TIMEOUT) -> Outcome:
        """End the runs with ``status``, wait for the writer to be done; what it reported.

        The first failure reported wins (a failed connection, else the first request that
        failed); a writer gone or silent is a failure of ``recording the run``.
        """
        if "finished" not in self._outcomes:
            self._send("finish", status=status)
            if self._requests is not None:
                with contextlib.suppress(OSError):
                    self._requests.close()
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.shutdown(socket.SHUT_WR)
        outcome = self._await("finished", timeout)
        connected = self._outcomes.get("connected")
        if connected is not None and connected.failure is not None:
            outcome = Outcome(connected.failure, outcome.moved or connected.moved)
        if self._socket is not None:
            self._socket.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return outcome

    # -- the pipes -----------------------------------------------------------------------

    def _send(self, operation: str, **args: Any) -> None:
        self._write((operation, self._action, args))

    def _write(self, message: Any) -> None:
        requests = self._requests
        if requests is None or requests.closed:
            return
        try:
            pickle.dump(message, requests)
            requests.flush()
        except OSError:  # the writer is gone: finish() reports it
            with contextlib.suppress(OSError):
                requests.close()

    def _await(self, kind: str, timeout: float) -> Outcome:
        """The writer's ``kind`` answer, reading (and keeping) the ones before it."""
        if self._start_failure is not None:
            return Outcome(self._start_failure)
        deadline = time.monotonic() + timeout
        while kind not in self._outcomes:
            answer = self._next_answer(deadline)
            if answer is None:
                if self._ended_pipe:  # the writer ended without answering
                    return Outcome(_failure(_RECORDING, self._ended()))
                if self._process is not None:
                    self._process.kill()
                if self._socket is not None:
                    self._socket.close()
                    self._ended_pipe = True
                return Outcome(_failure(_RECORDING, f"no answer within {timeout:g} s"))
            got, failure, value = answer
            if got == "writer":  # a fork's first answer: ("writer", None, its pid)
                self._fork_pid = value
                value = 0
            self._outcomes[got] = Outcome(failure, value)
        return self._outcomes[kind]

    def _next_answer(self, deadline: float) -> tuple[Any, ...] | None:
        """The writer's next answer; None at the end of its pipe or after ``deadline``.

        Each answer is a 4-byte big-endian length and a pickle (see the writer's
        ``main``), read from the raw pipe so that nothing is buffered out of ``select``'s
        sight.
        """
        if self._socket is not None:
            if self._socket.fileno() < 0:
                return None
            stream = self._socket.fileno()
        elif self._process is not None and self._process.stdout is not None:
            stream = self._process.stdout.fileno()
        else:
            return None
        while not self._ended_pipe:
            if len(self._received) >= 4:
                (size,) = struct.unpack(">I", self._received[:4])
                if len(self._received) >= 4 + size:
                    frame = bytes(self._received[4 : 4 + size])
                    del self._received[: 4 + size]
                    return pickle.loads(frame)  # our own child's plain data
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
                return None
            try:
                chunk = os.read(stream, 1 << 16)
            except OSError:  # a reset connection: the writer is gone
                chunk = b""
            if not chunk:
                self._ended_pipe = True
            self._received += chunk
        return None

    def _ended(self) -> str:
        if self._socket is not None:
            return "the MLflow writer process serving this stage ended"
        code = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(timeout=10)
        return f"the MLflow writer process ended with exit code {code}"


# -- a plain kedro run's own writer ----------------------------------------------------------


def _own_writer(env: Mapping[str, str]) -> subprocess.Popen[bytes] | _ForkedWriter:
    """Start this stage's own writer with the environment ``env``: forked when this process
    may fork, else a new interpreter.

    A fork is done 0.2-0.3 s sooner, on the stage's critical path (docs/benchmarks.md): it
    skips the interpreter's start and the modules this process imported already.
    """
    if _forkable():
        return _ForkedWriter(env)
    return subprocess.Popen(
        [sys.executable, "-m", WRITER_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _forkable() -> bool:
    """Whether this process may fork its writer: on Linux, while it has a single thread
    (native ones counted, from /proc), so that no other thread holds a lock at the fork,
    and has not imported MLflow (a stage never does; a notebook or a test may have a store
    open, whose cached connections a fork must not share)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or "mlflow" in sys.modules:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class _ForkedWriter:
    """A writer forked from this process: what the stage uses of a :class:`subprocess.Popen`
    (``pid``, the ``stdin`` and ``stdout`` pipes, ``poll``, ``wait``, ``kill``).

    Hand-written rather than ``multiprocessing``'s fork context, whose exit handler would
    kill the writer (daemon) or wait for it (not daemon) while this process still holds the
    request pipe: the writer must see that pipe end, even at a crash, to close its runs.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        requests, self_requests = os.pipe()
        self_answers, answers = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            pid = os.fork()
        except OSError:  # e.g. no memory or process slot: a start failure, no fd left open
            for fd in (requests, self_requests, self_answers, answers):
                os.close(fd)
            raise
        if pid == 0:
            _run_forked_writer(env, requests, answers, (self_requests, self_answers))
        os.close(requests)
        os.close(answers)
        self.pid = pid
        self.stdin: IO[bytes] = os.fdopen(self_requests, "wb")
        self.stdout: IO[bytes] = os.fdopen(self_answers, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The writer's exit code, or None while it runs."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, its code unknown
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        """Its exit code once it ended.

        Raises:
            subprocess.TimeoutExpired: Still running after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(WRITER_MODULE, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _run_forked_writer(
    env: Mapping[str, str], requests: int, answers: int, parents: tuple[int, ...]
) -> NoReturn:
    """The forked writer's whole life; it never returns into the stage's code."""
    code = 1
    try:
        for fd in parents:  # the stage's ends: the writer sees the stage's end of the pipe
            os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        from pneumothorax.tracking import writer

        code = writer.forked(requests, answers)
    except BaseException:  # reported; nothing may unwind into Kedro
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        # Every answer is flushed and every MLflow call committed: no clean-up of the
        # stage's objects (its atexit handlers are the stage's own).
        os._exit(code)


def _failure(action: str, reason: str) -> dict[str, Any]:
    return {"action": action, "reason": reason, "tracking": True}


def _importing_this_package(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this package's folder first on ``PYTHONPATH``.

    Kedro finds a project's package through ``src/`` on its own ``sys.path``, which a child
    interpreter does not inherit: the writer must import the same code as the stage.
    """
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root)]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


# -- the writer shared by a DVC command's stages ------------------------------------------


def shared_socket_path(owner: tuple[int, float], env: Mapping[str, str]) -> Path:
    """Where the shared writer of ``owner``'s stages listens.

    One per DVC process and per copy of the package and interpreter (a ``dvc exp run --temp``
    copy runs its own code), in the temporary folder: a socket's path must stay under about
    100 bytes, which a project's own folder may not.
    """
    key = "\0".join(
        [socket.gethostname(), str(owner[0]), f"{owner[1]:.3f}", sys.executable,
         env.get("PYTHONPATH", "")]
    )  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    for base in (tempfile.gettempdir(), "/tmp"):
        # In a folder of this user's own (_private_folder): in a temporary folder shared by
        # every user, anyone could listen first at a path that is known in advance.
        path = Path(base) / f"pneumothorax-{os.getuid()}" / f"mlflow-{digest}.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            break
    return path  # still too long: bind fails, and the stage has a writer of its own


def _private_folder(folder: Path) -> None:
    """Create ``folder`` for this user alone, or check that it is so.

    Raises:
        PermissionError: ``folder`` is not a folder, or another user's, or open to others.
    """
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()  # not a link's target: a link may point anywhere
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not a folder of this user's only")


def _join_shared_writer(
    owner: tuple[int, float], env: Mapping[str, str]
) -> tuple[socket.socket, int | None]:
    """Connect to ``owner``'s shared writer, starting it if there is none yet.

    Returns:
        The connection (this stage's own fork of the writer answers on it) and the shared
        writer's process id.

    Raises:
        OSError: No writer could be started or reached.
    """
    path = shared_socket_path(owner, env)
    _private_folder(path.parent)
    try:
        return _connect(path)
    except FileNotFoundError:
        pass  # none yet: neither the raw manifest nor an earlier stage started one
    except ConnectionRefusedError:
        # A dead writer's socket file. (Never unlinked when there was none: a writer just
        # started elsewhere may have bound the path since, and would lose its address.)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    server = _start_server(path, owner, env)
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while True:
        try:
            return _connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise OSError(
                    f"the shared MLflow writer did not start (exit code {server.poll()})"
                ) from None
            time.sleep(0.01)


def start_shared_writer() -> int | None:
    """Start the shared writer of the DVC command above this process, if it has none.

    For the command DVC runs before the Kedro stages (``raw_manifest``): the writer then
    imports MLflow (about 3 s of CPU) while that command works, DVC checks the next stages
    and Kedro starts, instead of while the first stage to record a run waits for it at its
    end (every stage waits for its writer's verdict). The stages find it as they would
    find one started by a stage. It connects to nothing: a connection is a stage, served by
    a fork. A writer no stage joins (a ``dvc repro`` with nothing else to rerun) ends with
    the DVC command, like any.

    Returns:
        The process id of the writer started; None if there is no DVC command above, no
        sharing on this system, or a writer (or its socket) there already.
    """
    owner = dvc_owner()
    if owner is None or not _CAN_SHARE:
        return None
    env = _importing_this_package(os.environ)
    path = shared_socket_path(owner, env)
    try:
        _private_folder(path.parent)
    except OSError:
        return None  # the stages say why, as they do without this
    if path.exists():
        return None
    try:
        return _start_server(path, owner, env).pid
    except OSError:
        return None


def _start_server(
    path: Path, owner: tuple[int, float], env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """Start a shared writer listening at ``path`` until ``owner`` ends (not waited for)."""
    return subprocess.Popen(
        [sys.executable, "-m", WRITER_MODULE, "--serve", str(path),
         "--owner", str(owner[0]), "--owner-started", repr(owner[1])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(env), start_new_session=True,  # not stopped by the terminal's Ctrl-C
    )  # fmt: skip


def _connect(path: Path) -> tuple[socket.socket, int | None]:
    """Connect to the writer at ``path``; hand it this stage's stderr for its messages.

    Raises:
        PermissionError: Another user listens there (root may connect to anyone's socket).
    """
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
        server_pid, server_uid = _peer(connection)
        if server_uid is not None and server_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user's process")
        # The fork serving this stage writes its warnings where the stage's own go.
        socket.send_fds(connection, [b"\0"], [2])
    except OSError:
        connection.close()
        raise
    return connection, server_pid


def _peer(connection: socket.socket) -> tuple[int | None, int | None]:
    """The process and user ids of whoever listens on ``connection`` (Linux's SO_PEERCRED).

    ``(None, None)`` where there is no SO_PEERCRED (macOS): the private folder is the guard.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None, None
    pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, option, 12))
    return int(pid), int(uid)


def _socket_open(connection: socket.socket) -> bool:
    """Whether the other end of ``connection`` is still there (no end of stream waiting)."""
    if connection.fileno() < 0:
        return False
    if not select.select([connection], [], [], 0)[0]:
        return True
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False
