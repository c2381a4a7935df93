"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_tracking(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No test may log into the repository's MLflow store or a developer's server.

    Clears every ``MLFLOW_*`` variable, points MLflow at a sqlite store under a temporary
    folder, keeps usage reporting off, and ends any run a test leaves active.
    """
    for name in list(os.environ):
        if name.startswith("MLFLOW_"):
            monkeypatch.delenv(name)
    store = tmp_path_factory.mktemp("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    yield
    import sys

    if "mlflow" in sys.modules:
        import mlflow

        while mlflow.active_run():
            mlflow.end_run()


@pytest.fixture(autouse=True)
def _isolated_incremental_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No in-process test may read or write the repository's ``.cache/pneumothorax``.

    A node run with the default (empty) ``incremental.cache_dir`` gets a temporary folder
    instead (an absolute path replaces the repository root in ``cache_directory``); e2e
    tests run the CLIs in a copy of the project, so their default cache is already under
    ``tmp_path``.
    """
    import pneumothorax.runtime.incremental

    cache = tmp_path_factory.mktemp("incremental-cache")
    monkeypatch.setattr(pneumothorax.runtime.incremental, "DEFAULT_CACHE_DIR", cache)
