"""A real S3-protocol server (moto's server mode) on 127.0.0.1, with an upload gate.

DVC's own test-suite runs its S3 tests against moto's server mode; so do these. The gate
lets a test hold uploads after the first few objects, so a ``dvc push`` can be killed at
a known point part-way, instead of racing a fast transfer.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

ACCESS_KEY_ID = "testing"
# moto accepts any secret; a fresh one per run, so a test can check it never reaches git.
SECRET_ACCESS_KEY = secrets.token_hex(20)
REGION = "us-east-1"


class S3Server:
    """moto's S3 in a thread on a free port of 127.0.0.1 (stop it in a finalizer)."""

    def __init__(self) -> None:
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self._allowed_uploads: int | None = None
        self._uploads = 0
        self._release = threading.Event()
        self.held = threading.Event()  # set once an upload is being held at the gate

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> S3Server:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._thread.start()
        return self

    def stop(self) -> None:
        self.open_gate()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )

    def hold_uploads_after(self, count: int) -> None:
        """Let ``count`` more object uploads through, then hold every further one."""
        with self._lock:
            self._allowed_uploads = count
            self._uploads = 0
            self._release.clear()
            self.held.clear()

    def open_gate(self) -> None:
        """Stop holding: held uploads are refused (503), later ones pass."""
        with self._lock:
            self._allowed_uploads = None
        self._release.set()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        # An object upload is a PUT to /<bucket>/<key>; creating a bucket is PUT /<bucket>.
        is_upload = (
            environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].strip("/").count("/") >= 1
        )
        if is_upload:
            with self._lock:
                gated = self._allowed_uploads is not None
                if gated:
                    self._uploads += 1
                    hold = self._uploads > self._allowed_uploads
            if gated and hold:
                self.held.set()
                self._release.wait(timeout=120)
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
        return self._app(environ, start_response)
