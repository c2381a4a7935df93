"""A real ``mlflow server`` on 127.0.0.1 (free port, sqlite store, served artifacts) for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The project's default experiment (conf/base/mlflow.yml).
EXPERIMENT = "pneumothorax"


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MlflowServer:
    """A running ``mlflow server`` process and a tiny client of its REST API."""

    url: str
    process: subprocess.Popen
    log: Path

    def get(self, endpoint: str, **query: Any) -> dict[str, Any]:
        """GET ``/api/2.0/mlflow/<endpoint>`` and decode the JSON answer."""
        url = f"{self.url}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to ``/api/2.0/mlflow/<endpoint>`` and decode the JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/{endpoint}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    def experiment_id(self, name: str = EXPERIMENT) -> str:
        """The id of experiment ``name``."""
        return self.get("experiments/get-by-name", experiment_name=name)["experiment"][
            "experiment_id"
        ]

    def runs(self, filter_string: str = "", name: str = EXPERIMENT) -> list[dict[str, Any]]:
        """Every run of experiment ``name`` matching ``filter_string`` (REST runs/search)."""
        body = {"experiment_ids": [self.experiment_id(name)], "max_results": 1000}
        if filter_string:
            body["filter"] = filter_string
        return self.post("runs/search", body).get("runs", [])

    def artifacts(self, run_id: str, path: str = "") -> list[str]:
        """Artifact paths of a run under ``path`` (REST artifacts/list)."""
        answer = self.get("artifacts/list", run_id=run_id, path=path)
        return [f["path"] for f in answer.get("files", [])]

    def stop(self) -> None:
        """Stop the server and every worker it started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def kill(self) -> None:
        """Kill the server abruptly, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def start_mlflow_server(root: Path, env: dict[str, str]) -> MlflowServer:
    """Start ``mlflow server`` with its store under ``root``; wait until /health answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches the workers
        )
    server = MlflowServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"mlflow server did not answer /health within 90 s:\n{log.read_text()}")
