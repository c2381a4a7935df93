"""The contract between the MLflow hook and the datasets whose saves it logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass(frozen=True)
class RunIds:
    """The MLflow runs a stage logs to.

    Attributes:
        run: This stage's run.
        entry: The experiment's entry: the parent run of a ``dvc repro``/``dvc exp run``,
            else ``run`` itself (a plain ``kedro run``).
        experiment: The experiment both belong to.
    """

    run: str
    entry: str
    experiment: str


@runtime_checkable
class MlflowLogged(Protocol):
    """A dataset that logs what it saved to MLflow, when the hook asks it to.

    The hook (:class:`pneumothorax.tracking.mlflow_hook.MlflowHook`) calls
    :meth:`log_to_mlflow` after each save, with the runs to log to, and turns a tracking
    error into a warning (or, with ``tracking.required``, an error). The dataset writes its
    file whether MLflow is up or not, and never needs to know which.
    """

    def log_to_mlflow(self, data: Any, client: MlflowClient, runs: RunIds) -> None:
        """Log ``data`` (what was just saved) to ``runs`` through ``client``."""
