"""What an MLflow outage looks like: the errors a call raises, the server probe, short retries."""

from __future__ import annotations

import os
import sqlite3
import urllib.error
import urllib.request

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


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call may raise when the store is down, unreachable or damaged.

    A function, not a constant: it imports MLflow, which a stage loads only once it tracks.
    """
    import requests
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return (
        MlflowException,
        requests.RequestException,
        OSError,
        sqlite3.Error,  # the project's own mlflow.db read directly (store.relocate_store)
        SQLAlchemyError,  # MLflow's sqlite store lets some through (a corrupt mlflow.db)
    )


def apply_http_defaults() -> None:
    """Shorten MLflow's HTTP retries unless the user configured them."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def fail_fast() -> None:
    """Make the calls still due after an outage fail at once, not after retries."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, else its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def unreachable_reason(uri: str, timeout: float = HEALTH_TIMEOUT) -> str | None:
    """Why the tracking server at ``uri`` cannot be used, or None if it answers.

    Only ``http(s)://`` servers are probed (their ``/health`` endpoint); local stores
    (sqlite, folders) are always considered reachable.

    Args:
        uri: The tracking URI.
        timeout: Seconds to wait for an answer.

    Returns:
        A short reason, or None.
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
