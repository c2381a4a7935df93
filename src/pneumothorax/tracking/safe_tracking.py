"""Best-effort MLflow logging: a tracking failure warns (or, if required, fails)."""

from __future__ import annotations

import logging
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What a tracking call may raise when the store is down or unreachable.
TRACKING_ERRORS: tuple[type[BaseException], ...] = (
    MlflowException,
    requests.RequestException,
    OSError,
    sqlite3.Error,  # the project's own mlflow.db read directly (tracking.relocate_store)
    SQLAlchemyError,  # MLflow's sqlite store lets some through (a corrupt mlflow.db)
)

#: Seconds to wait for ``<server>/health`` before a run starts.
HEALTH_TIMEOUT = 3.0

#: MLflow's HTTP client retries 7 times with exponential backoff (minutes of waiting) by
#: default; a pipeline that carries on without tracking should notice within seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


class TrackingUnavailableError(RuntimeError):
    """MLflow could not be reached and ``tracking.required`` is true."""


class _State:
    """Per-process switch shared by the MLflow hook and the datasets that log."""

    enabled: bool = True
    required: bool = False


def apply_http_defaults() -> None:
    """Shorten MLflow's HTTP retries unless the user configured them."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def configure(*, required: bool) -> None:
    """Start a run with tracking enabled; ``required`` turns failures into errors."""
    _State.enabled = True
    _State.required = required


def enabled() -> bool:
    """Whether MLflow calls are still attempted in this process."""
    return _State.enabled


def is_required() -> bool:
    """Whether a tracking failure must stop the run (``tracking.required``)."""
    return _State.required


def fail(action: str, err: BaseException) -> None:
    """Handle a failed tracking call: raise if required, else warn once and stop tracking.

    Raises:
        TrackingUnavailableError: ``tracking.required`` is true.
    """
    uri = _current_uri()
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if _State.required:
        raise TrackingUnavailableError(
            f"MLflow at {uri}: {action} failed ({reason}); tracking.required is true in "
            "params.yaml, so the run stops"
        ) from err
    if _State.enabled:
        logger.warning(
            "MLflow at %s: %s failed (%s). The pipeline carries on and its outputs are valid, "
            "but the rest of this run is not recorded in MLflow (set tracking.required: true "
            "in params.yaml to stop instead).",
            uri,
            action,
            reason,
        )
    _State.enabled = False
    # Calls still due (MLflow's own exit handler ends the run) then fail fast, not after retries.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"


def guarded(action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``fn`` unless tracking is off; on a tracking error, :func:`fail` and return None."""
    if not _State.enabled:
        return None
    try:
        return fn(*args, **kwargs)
    except TRACKING_ERRORS as err:
        fail(action, err)
        return None


def unreachable_reason(uri: str, timeout: float = HEALTH_TIMEOUT) -> str | None:
    """Why the tracking server at ``uri`` cannot be used, or None if it answers.

    Only ``http(s)://`` servers are probed (their ``/health`` endpoint); local stores
    (sqlite, folders) are always considered reachable.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"/health answered HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"/health answered HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return f"no answer from /health within {timeout:g} s ({reason})"


def log_metrics(metrics: Mapping[str, float]) -> None:
    """Log ``metrics`` on the active run and on its parent (the experiment's entry)."""
    if not metrics:
        return
    guarded("logging metrics", _log_metrics, dict(metrics))


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    """Log the file at ``path`` on the experiment's entry (the parent run, else the active run)."""
    guarded(f"logging artifact {path.name}", _log_artifact, path, artifact_path)


def _log_metrics(metrics: dict[str, float]) -> None:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return
    mlflow.log_metrics(metrics)
    parent = run.data.tags.get("mlflow.parentRunId")
    if parent:
        client = mlflow.MlflowClient()
        for name, value in metrics.items():
            client.log_metric(parent, name, value)


def _log_artifact(path: Path, artifact_path: str | None) -> None:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return
    target = run.data.tags.get("mlflow.parentRunId") or run.info.run_id
    mlflow.MlflowClient().log_artifact(target, str(path), artifact_path)


def _current_uri() -> str:
    try:
        import mlflow

        return mlflow.get_tracking_uri()
    except Exception:  # the message must never fail on top of the failure it reports
        return os.environ.get("MLFLOW_TRACKING_URI", "the tracking store")
