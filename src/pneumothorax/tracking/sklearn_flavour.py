"""How a model is saved in the ``mlflow.sklearn`` flavour, by the stage or its MLflow writer.

The model stage's folder is written by the stage's MLflow writer or, without one, by the
stage itself: both call :func:`save_model`, so the folder is the same either way, and
``dvc.yaml``'s model stage lists this file (the writer's other code writes no output).
MLflow is imported inside each function: importing this module costs the stage nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sklearn_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` plus the flavour's default requirements, for ``save_model``/``log_model``.

    Named so that MLflow does not infer them by loading the model in a subprocess (seconds
    per save).
    """
    import mlflow.sklearn

    return {"pip_requirements": mlflow.sklearn.get_default_pip_requirements(), **args}


def save_model(model: Any, path: str, args: Mapping[str, Any]) -> None:
    """``mlflow.sklearn.save_model(model, path)`` with :func:`sklearn_args`."""
    import mlflow.sklearn

    mlflow.sklearn.save_model(model, path, **sklearn_args(args))
