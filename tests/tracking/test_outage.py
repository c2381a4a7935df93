"""Telling an MLflow outage: the server probe."""

from __future__ import annotations

import socket

import pytest

from pneumothorax.tracking.outage import first_line, unreachable_reason


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_dead_server_is_reported_unreachable() -> None:
    reason = unreachable_reason(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    assert reason is not None and "no answer from /health" in reason


@pytest.mark.parametrize("uri", ["sqlite:////tmp/x/mlflow.db", "file:///tmp/mlruns", "/tmp/m"])
def test_local_stores_are_not_probed(uri: str) -> None:
    assert unreachable_reason(uri) is None


@pytest.mark.parametrize(
    ("error", "line"),
    [(OSError("refused\nat line 2"), "refused"), (OSError(""), "OSError")],
)
def test_an_error_is_told_in_its_first_line(error: BaseException, line: str) -> None:
    assert first_line(error) == line
