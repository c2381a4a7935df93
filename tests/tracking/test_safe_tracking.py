"""Tracking failures: warn once and carry on, or stop when tracking is required."""

from __future__ import annotations

import logging
import socket

import pytest
from mlflow.exceptions import MlflowException

from pneumothorax.tracking import safe_tracking


@pytest.fixture(autouse=True)
def _fresh_state():
    safe_tracking.configure(required=False)
    yield
    safe_tracking.configure(required=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _down() -> None:
    raise MlflowException("API request to http://127.0.0.1:1/api failed: Connection refused")


def test_a_dead_server_is_reported_unreachable() -> None:
    reason = safe_tracking.unreachable_reason(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    assert reason is not None and "no answer from /health" in reason


@pytest.mark.parametrize("uri", ["sqlite:////tmp/x/mlflow.db", "file:///tmp/mlruns", "/tmp/m"])
def test_local_stores_are_not_probed(uri: str) -> None:
    assert safe_tracking.unreachable_reason(uri) is None


def test_a_failure_warns_once_then_tracking_stays_off(caplog: pytest.LogCaptureFixture) -> None:
    calls = []
    with caplog.at_level(logging.WARNING, logger="pneumothorax.tracking.safe_tracking"):
        assert safe_tracking.guarded("logging metrics", _down) is None
        assert safe_tracking.guarded("logging params", calls.append, 1) is None
        safe_tracking.guarded("logging metrics", _down)
    assert not safe_tracking.enabled()
    assert calls == []  # nothing attempted once tracking is off
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "logging metrics failed" in warnings[0]
    assert "outputs are valid" in warnings[0]


def test_a_required_tracking_failure_stops_the_run() -> None:
    safe_tracking.configure(required=True)
    with pytest.raises(
        safe_tracking.TrackingUnavailableError, match=r"logging metrics failed .*Connection refused"
    ):
        safe_tracking.guarded("logging metrics", _down)


def test_other_errors_are_not_swallowed() -> None:
    def bug() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError, match="a bug"):
        safe_tracking.guarded("logging metrics", bug)
    assert safe_tracking.enabled()
