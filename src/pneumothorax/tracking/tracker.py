"""The stage's side of the MLflow writer: requests sent without waiting, the verdict at the end.

A :class:`Tracker` starts ``python -m pneumothorax.tracking.writer`` (see that module) and
talks to it through its stdin and stdout in pickled plain data (str, numbers, bytes,
dicts, lists, tuples), so this process never imports MLflow. It starts no thread either:
the process pools of the nodes fork only a single-threaded process
(:mod:`pneumothorax.runtime.executors`), so answers are read, with a timeout, only when
waited for. Runs are named symbolically:
``"run"`` is the stage's run, ``"entry"`` the experiment's entry (the parent run of a
``dvc repro``, else the run itself); the writer knows their ids.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pneumothorax.tracking.logged import ENTRY, RUN

__all__ = ["ENTRY", "RUN", "Outcome", "Tracker"]

#: The writer's module, run with this interpreter.
WRITER_MODULE = "pneumothorax.tracking.writer"
#: Seconds to wait for one of the writer's answers (a dead writer is noticed at once).
ANSWER_TIMEOUT = 120.0
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
        """Start the writer, which imports MLflow until :meth:`configure` hands it its work.

        Args:
            env: The writer's environment at start (default: this process's).
        """
        self._action = _RECORDING
        self._received = bytearray()
        self._ended_pipe = False
        self._outcomes: dict[str, Outcome] = {}
        self._start_failure: dict[str, Any] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", WRITER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_importing_this_package(os.environ if env is None else env),
            )
        except OSError as err:
            self._start_failure = _failure("starting the MLflow writer process", str(err))

    @property
    def alive(self) -> bool:
        """Whether the writer is still running (a spare one ends if never configured)."""
        return self._process is not None and self._process.poll() is None

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
        self._write(
            {
                "project_path": str(project_path),
                "experiment": experiment,
                "params": dict(params),
                "env": dict(os.environ if env is None else env),
            }
        )

    @property
    def pid(self) -> int | None:
        """The writer's process id (None if it could not start)."""
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
            if self._process is not None and self._process.stdin is not None:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()
        outcome = self._await("finished", timeout)
        connected = self._outcomes.get("connected")
        if connected is not None and connected.failure is not None:
            outcome = Outcome(connected.failure, outcome.moved or connected.moved)
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
        process = self._process
        if process is None or process.stdin is None or process.stdin.closed:
            return
        try:
            pickle.dump(message, process.stdin)
            process.stdin.flush()
        except OSError:  # the writer is gone: finish() reports it
            with contextlib.suppress(OSError):
                process.stdin.close()

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
                return Outcome(_failure(_RECORDING, f"no answer within {timeout:g} s"))
            got, failure, moved = answer
            self._outcomes[got] = Outcome(failure, moved)
        return self._outcomes[kind]

    def _next_answer(self, deadline: float) -> tuple[Any, ...] | None:
        """The writer's next answer; None at the end of its pipe or after ``deadline``.

        Each answer is a 4-byte big-endian length and a pickle (see the writer's
        ``main``), read from the raw pipe so that nothing is buffered out of ``select``'s
        sight.
        """
        if self._process is None or self._process.stdout is None:
            return None
        stream = self._process.stdout.fileno()
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
            chunk = os.read(stream, 1 << 16)
            if not chunk:
                self._ended_pipe = True
            self._received += chunk
        return None

    def _ended(self) -> str:
        code = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(timeout=10)
        return f"the MLflow writer process ended with exit code {code}"


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
